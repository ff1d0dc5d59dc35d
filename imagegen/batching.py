"""Runs sent through the provider's Batch API: cheaper where a source confirms it, and made within a window
(24 hours) rather than at once. The whole run is reserved at its start (as all or nothing is, held for the
window and an hour more); no job is queued for its items. Any server's sweep moves the batch on, one server
at a time under a lease: it sends the run's requests as one batch, polls it, and when the batch has ended
settles each item from what the batch reports (its image kept and charged from its usage, or refunded when
the batch says it was not made), then puts the images on the run's board. A server stopped midway leaves
nothing lost: a batch already made is found again by the run's id, and an item already settled is skipped."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from imagegen.errors import BadImage, ImagegenError, InvalidRequest
from imagegen.ledger import AMBIGUOUS, OPEN
from imagegen.money import to_micros
from imagegen.pipeline import Clock, Generation, finish, quiet, render_job, settle_failure, settlement_guard
from imagegen.planning import plan
from imagegen.providers.base import RenderOutput
from imagegen.request import GenerationRequest

if TYPE_CHECKING:
    from imagegen.engine import Engine

TO_SEND, SENT, SETTLED = "to send", "sent", "settled"
#: how long one server holds a batch while it sends or reads it
LEASE_SECONDS = 300.0
#: how often a sent batch is asked how it stands
POLL_SECONDS = 30.0
OWNER = f"{socket.gethostname()}:{os.getpid()}"
log = logging.getLogger("imagegen.batching")


def offered(engine: Engine) -> bool:
    """Whether this studio's provider takes batches (OpenAI's API itself; not Azure, not offline)."""
    return engine.provider.name == "openai" and hasattr(engine.provider, "batch_send")


def check_sendable(engine: Engine, requests: list[GenerationRequest]) -> None:
    if not offered(engine):
        raise InvalidRequest(
            "This studio's image service takes no batches: run it all or nothing, or as far as it goes."
        )
    for request in requests:
        spec = engine.catalog.get(request.model)
        if spec.family not in engine.catalog.batch.families or request.output_format in ("svg", "gif"):
            raise InvalidRequest(f"{spec.id} pictures cannot go through the Batch API: choose another way to run it.")


def queue(conn: Any, run_id: str) -> None:
    conn.execute("INSERT INTO run_batches (run_id, state) VALUES (:id, :state)", {"id": run_id, "state": TO_SEND})


def advance(engine: Engine, *, run_id: str | None = None, now: float | None = None) -> int:
    """Send, or read, every batch whose turn has come (or just `run_id`'s, at once); returns how many moved
    on. Each is leased first, so two servers never send or settle the same batch at once."""
    if not offered(engine):
        return 0  # a server whose provider takes no batches leaves them to the servers that can read them
    now = time.time() if now is None else now
    which = "run_id = :id" if run_id is not None else "checked_at < :due"
    rows = engine.db.query(
        f"SELECT run_id FROM run_batches WHERE state <> :settled AND {which}",
        {"settled": SETTLED, "due": now - POLL_SECONDS, "id": run_id},
    )
    moved = 0
    for row in rows:
        if not _lease(engine, row["run_id"], now):
            continue
        try:
            moved += _advance_one(engine, row["run_id"])
        except ImagegenError as exc:
            log.warning("batch of run %s could not move on: %s", row["run_id"], exc.message)
        finally:
            with engine.db.write() as conn:
                conn.execute(
                    "UPDATE run_batches SET lease_owner = NULL, lease_until = 0, checked_at = :now WHERE run_id = :id",
                    {"now": time.time(), "id": row["run_id"]},
                )
    return moved


def cancel(engine: Engine, run_id: str) -> None:
    """Stop a batch run: one not sent yet is settled at once, its items cancelled (their holds are the
    caller's to release); one sent is asked to stop, and its requests not made come back refunded when it
    ends."""
    with engine.db.write() as conn:
        unsent = conn.execute(
            "UPDATE run_batches SET state = :settled WHERE run_id = :id AND state = :to_send RETURNING run_id",
            {"settled": SETTLED, "id": run_id, "to_send": TO_SEND},
        ).fetchall()
        if unsent:
            conn.execute(
                "UPDATE run_items SET outcome = 'cancelled', error = 'Cancelled before the batch was sent.' "
                "WHERE run_id = :id AND outcome IS NULL",
                {"id": run_id},
            )
            return
    rows = engine.db.query(
        "SELECT batch_id FROM run_batches WHERE run_id = :id AND state = :sent", {"id": run_id, "sent": SENT}
    )
    if rows and rows[0]["batch_id"]:
        engine.provider.batch_cancel(rows[0]["batch_id"])


def _lease(engine: Engine, run_id: str, now: float) -> bool:
    with engine.db.write() as conn:
        taken = conn.execute(
            "UPDATE run_batches SET lease_owner = :me, lease_until = :until WHERE run_id = :id "
            "AND (lease_owner IS NULL OR lease_until < :now) RETURNING run_id",
            {"me": OWNER, "until": now + LEASE_SECONDS, "id": run_id, "now": now},
        ).fetchall()
    return bool(taken)


def _advance_one(engine: Engine, run_id: str) -> int:
    batch = engine.db.query("SELECT * FROM run_batches WHERE run_id = :id", {"id": run_id})[0]
    run = engine.db.query('SELECT id, "user" FROM runs WHERE id = :id', {"id": run_id})[0]
    items = engine.db.query(
        "SELECT position, job_id, request, outcome FROM run_items WHERE run_id = :id ORDER BY position", {"id": run_id}
    )
    if batch["state"] == TO_SEND:
        _send(engine, run, [item for item in items if item["outcome"] is None])
        return 1
    if batch["state"] == SENT and _read(engine, run, batch["batch_id"], items):
        from imagegen.runs import collect_run

        collect_run(engine, run_id)
        return 1
    return 0


def _send(engine: Engine, run: Any, items: list[Any]) -> None:
    jobs = []
    for item in items:
        request = GenerationRequest.from_dict(json.loads(item["request"]))
        planned = plan(engine, request)
        jobs.append((item["job_id"], render_job(request, planned, run["user"])))
    batch_id = engine.provider.batch_send(run["id"], jobs)
    for item in items:
        engine.ledger.mark_sent(item["job_id"])  # from here on, an item not settled may have been billed
    with engine.db.write() as conn:
        conn.execute(
            "UPDATE run_batches SET batch_id = :batch, state = :sent WHERE run_id = :id",
            {"batch": batch_id, "sent": SENT, "id": run["id"]},
        )


def _read(engine: Engine, run: Any, batch_id: str, items: list[Any]) -> int:
    by_job = {item["job_id"]: item for item in items}
    answered: set[str] = set()

    def on_answer(custom_id: str, answer: RenderOutput | ImagegenError) -> None:
        item = by_job.get(custom_id)
        if item is None:
            log.warning("batch %s answered a request that is not its run's", batch_id)
            return
        answered.add(custom_id)
        _settle_item(engine, run, item, answer)

    state = engine.provider.batch_poll(batch_id, on_answer)
    with engine.db.write() as conn:
        conn.execute("UPDATE run_batches SET provider_status = :status WHERE run_id = :id",
                     {"status": state.status, "id": run["id"]})  # fmt: skip
    if not state.ended:
        return 0
    unanswered = NotMade(state.status)
    for job_id, item in by_job.items():
        if job_id not in answered:
            _settle_item(engine, run, item, unanswered)
    with engine.db.write() as conn:
        conn.execute(
            "UPDATE run_batches SET state = :settled WHERE run_id = :id", {"settled": SETTLED, "id": run["id"]}
        )
    return 1


class NotMade(ImagegenError):
    """The batch ended without a word of this request (failed at validation, or ended early): not made."""

    code = "batch_not_made"

    def __init__(self, status: str) -> None:
        super().__init__(f"The batch ended ({status}) without making this image. You were not charged.")


def _settle_item(engine: Engine, run: Any, item: Any, answer: RenderOutput | ImagegenError) -> None:
    """One item's end, once: its image kept and charged from its usage, or its reservation settled by what
    the error says (refunded when it was not made, kept as possibly billed otherwise)."""
    ledger_id = item["job_id"]
    row = engine.ledger.generation(ledger_id)
    # An image answered after its hold expired (settled then as possibly billed) is still paid for: kept,
    # and its charge made true. Anything else not open was settled already, or released by a cancel.
    late_image = row is not None and row["status"] == AMBIGUOUS and not isinstance(answer, ImagegenError)
    if row is None or (row["status"] != OPEN and not late_image):
        return
    engine.ledger.take_held(ledger_id)
    clock = Clock()
    request = GenerationRequest.from_dict(json.loads(item["request"]))
    outcome: tuple[str, dict[str, Any] | None, str | None]
    try:
        if isinstance(answer, ImagegenError):
            raise answer
        if not answer.images:
            raise BadImage("The batch answered without an image. It may have been billed.")
        try:
            planned = plan(engine, request)
        except ImagegenError as exc:  # made and billed, but no longer plannable here (a model retired since)
            raise BadImage(f"The batch made this image but it cannot be kept: {exc.message}") from exc
        generation = Generation(engine, planned, run["user"], ledger_id, quiet(None), clock)
        charge = engine.catalog.batch.price(engine.catalog.charge(request, answer.usage, planned.estimated_cost))
        with settlement_guard(engine, ledger_id, to_micros(charge.amount), clock):
            entry = generation.keep_raw(answer, charge)
        result = finish(engine, entry, quiet(None), clock)
        outcome = ("succeeded", {"image_keys": result.image_keys}, None)
    except ImagegenError as exc:
        if (engine.ledger.generation(ledger_id) or {}).get("status") == OPEN:
            settle_failure(engine, ledger_id, exc, clock)
        outcome = ("failed", None, exc.message)
    with engine.db.write() as conn:
        conn.execute(
            "UPDATE run_items SET outcome = :outcome, result = :result, error = :error "
            "WHERE run_id = :run AND position = :position",
            {"outcome": outcome[0], "result": json.dumps(outcome[1]) if outcome[1] else None, "error": outcome[2],
             "run": run["id"], "position": item["position"]},
        )  # fmt: skip
