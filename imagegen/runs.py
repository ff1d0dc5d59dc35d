"""Runs of many: a list of prompts times a choice of presets and sizes, planned and priced whole before
anything is spent, then queued as one job per image on the shared queue (any replica runs them). All or
nothing reserves every item in one transaction at the start (refused whole when it does not fit); as far as
it goes lets each item reserve when its job runs, so the ledger admits exactly what fits. Cancelling stops
the queued items at $0; the results go on a new board."""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from imagegen import batching
from imagegen.boards import Boards
from imagegen.checks import check_user, clean_text, scoped_id, visible
from imagegen.errors import ImagegenError, InvalidRequest, LimitReached, NotFound
from imagegen.limits import Allowance
from imagegen.localtime import utc_now_iso
from imagegen.money import to_usd
from imagegen.planning import plan
from imagegen.request import RUN_PREFIX, GenerationRequest

if TYPE_CHECKING:
    from imagegen.engine import Engine
    from imagegen.jobs import JobRunner

#: the most images one run makes: a campaign's set, not a factory
MAX_RUN_IMAGES = 300
MAX_PROMPTS = 300
ALL_OR_NOTHING, AS_FAR_AS_IT_GOES, BATCH = "all", "as far as it goes", "batch"
#: all or nothing and as far as it goes run at once on the job queue; a batch is reserved whole and made
#: by the provider's Batch API within its window (batching.py), where the provider offers one
MODES = (ALL_OR_NOTHING, AS_FAR_AS_IT_GOES, BATCH)
RUN_ID = re.compile(r"[0-9a-f]{8,32}")
#: how long an all-or-nothing run's reservations wait for their jobs before they are released at $0
HOLD_SECONDS = 24 * 3600


@dataclass(frozen=True)
class RunItem:
    position: int
    prompt: str
    preset: str
    size: str
    request: GenerationRequest
    #: the most this item can cost (its reservation) and what it usually costs
    reserve_micros: int
    estimate_usd: float


@dataclass(frozen=True)
class RunPlan:
    items: list[RunItem]
    allowance: Allowance

    @property
    def images(self) -> int:
        return sum(item.request.n for item in self.items)

    @property
    def reserve_micros(self) -> int:
        return sum(item.reserve_micros for item in self.items)

    @property
    def estimate_usd(self) -> float:
        return sum(item.estimate_usd for item in self.items)

    @property
    def reserve_usd(self) -> float:
        return to_usd(self.reserve_micros)

    @property
    def fits_whole(self) -> bool:
        return self.fitting() == len(self.items)

    def fitting(self) -> int:
        """How many items, in order, the user's images and the team's budget left now can hold."""
        images, money = self.allowance.images_left, self.allowance.budget_micros - self.allowance.spent_micros
        money -= self.allowance.in_flight_micros
        for count, item in enumerate(self.items):
            images -= item.request.n
            money -= item.reserve_micros
            if images < 0 or money < 0:
                return count
        return len(self.items)


@dataclass(frozen=True)
class RunStatus:
    id: str
    name: str
    mode: str
    board_id: str
    created_at: str
    cancelled: bool
    #: how many items are queued, running, succeeded, failed, cancelled
    counts: dict[str, int]
    items: list[dict[str, Any]]
    #: what the run has been charged so far, and the most it was estimated to cost
    spent_micros: int = 0
    estimated_micros: int = 0

    @property
    def images(self) -> int:
        return sum(len(item["image_keys"]) for item in self.items)

    @property
    def spent_usd(self) -> float:
        return to_usd(self.spent_micros)

    @property
    def estimated_usd(self) -> float:
        return to_usd(self.estimated_micros)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def settled(self) -> int:
        """How many items have ended, however they ended."""
        return self.total - self.counts.get("queued", 0) - self.counts.get("running", 0)

    @property
    def finished(self) -> bool:
        return self.settled == self.total


def read_prompts(text: str = "", csv_bytes: bytes | None = None) -> list[str]:
    """Prompts typed one per line, or the first column of a CSV file (a header row named "prompt" is
    skipped); blank lines dropped, controls removed. Raises InvalidRequest when none are left or too many."""
    if csv_bytes is not None:
        try:
            rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InvalidRequest("The CSV file could not be read: save it as UTF-8 text, one prompt per row.") from exc
        lines = [row[0] for row in rows if row]
        if lines and lines[0].strip().lower() == "prompt":
            lines = lines[1:]
    else:
        lines = text.splitlines()
    prompts = [" ".join(clean_text(line)[0].split()) for line in lines]
    prompts = [p for p in prompts if visible(p)]
    if not prompts:
        raise InvalidRequest("Write at least one prompt, one per line.")
    if len(prompts) > MAX_PROMPTS:
        raise InvalidRequest(f"A run takes at most {MAX_PROMPTS} prompts, not {len(prompts)}.")
    return prompts


def plan_run(
    engine: Engine,
    prompts: list[str],
    presets: list[str],
    sizes: list[str],
    base: GenerationRequest,
    user: str,
    run_id: str | None = None,
) -> RunPlan:
    """Every request the run will make (each prompt in each preset at each size), each planned and priced as
    a single image is. Raises InvalidRequest naming the first request that cannot be made, or a run too big.
    A page passes its own `run_id` (hex) so that a start clicked twice is one run."""
    user = check_user(user)
    if not presets or not sizes:
        raise InvalidRequest("Choose at least one preset and one size.")
    count = len(prompts) * len(presets) * len(sizes) * base.n
    if count > MAX_RUN_IMAGES:
        raise InvalidRequest(f"This run would make {count} images; a run makes at most {MAX_RUN_IMAGES}.")
    if run_id is None:
        run_id = secrets.token_hex(6)
    elif not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise InvalidRequest("A run's id is 8 to 32 lowercase hex digits.")
    items: list[RunItem] = []
    for prompt in prompts:
        for preset in presets:
            for size in sizes:
                position = len(items)
                request = replace(
                    base, prompt=prompt, preset=preset, size=size, request_id=f"{RUN_PREFIX}{run_id}-{position}"
                )
                try:
                    planned = plan(engine, request)
                except InvalidRequest as exc:
                    raise InvalidRequest(
                        f"Request {position + 1} ({prompt[:40]!r}, {preset}, {size}): {exc.message}"
                    ) from exc
                items.append(
                    RunItem(position, prompt, preset, size, planned.request, planned.reserve_micros,
                            float(planned.estimated_cost))
                )  # fmt: skip
    return RunPlan(items, engine.limits.allowance(user))


def start_run(engine: Engine, runner: JobRunner, boards: Boards, run: RunPlan, user: str, mode: str, name: str) -> str:
    """Put the run's results board in place, reserve the whole run (all or nothing) and queue its items.
    Raises LimitReached (all or nothing) before anything is queued or kept when it does not fit whole."""
    user = check_user(user)
    if mode not in MODES:
        raise InvalidRequest(f"A run goes {' or '.join(MODES)}, not {str(mode)[:30]!r}.")
    run_id = run.items[0].request.request_id.removeprefix(RUN_PREFIX).rsplit("-", 1)[0]
    if engine.db.query("SELECT 1 FROM runs WHERE id = :id", {"id": run_id}):
        _run_row(engine, run_id, user)  # someone else's id is not theirs to start again
        return run_id  # started already (a second click): one run
    if mode == BATCH:
        batching.check_sendable(engine, [item.request for item in run.items])
    if mode in (ALL_OR_NOTHING, BATCH):
        hold = engine.catalog.batch.hold_seconds if mode == BATCH else HOLD_SECONDS
        _hold_whole(engine, run, user, run_id, hold)
    board = boards.create(name or f"Run of {len(run.items)}", user, description=f"The results of run {run_id}.")
    with engine.db.write() as conn:
        conn.execute(
            'INSERT INTO runs (id, "user", created_at, name, mode, board_id, items, estimated_micros) '
            "VALUES (:id, :user, :now, :name, :mode, :board, :items, :micros)",
            {"id": run_id, "user": user, "now": utc_now_iso(), "name": board.name, "mode": mode, "board": board.id,
             "items": len(run.items), "micros": run.reserve_micros},
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO run_items (run_id, position, job_id, prompt, preset, size, estimated_micros, request) "
            "VALUES (:run, :position, :job, :prompt, :preset, :size, :micros, :request)",
            [{"run": run_id, "position": i.position, "job": scoped_id(user, i.request.request_id), "prompt": i.prompt,
              "preset": i.preset, "size": i.size, "micros": i.reserve_micros,
              "request": json.dumps(i.request.to_dict())} for i in run.items],
        )  # fmt: skip
        if mode == BATCH:
            batching.queue(conn, run_id)
    if mode == BATCH:
        batching.advance(engine, run_id=run_id)  # sent now; if the provider cannot take it, the sweep sends it
        return run_id
    for item in run.items:
        runner.submit(item.request, user, check_limits=False)
    return run_id


def _hold_whole(engine: Engine, run: RunPlan, user: str, run_id: str, hold_seconds: float) -> None:
    items = []
    for item in run.items:
        planned = plan(engine, item.request)
        details = {**item.request.to_dict(), "directed_prompt": planned.directed.text, "provider": engine.provider.name}
        items.append((scoped_id(user, item.request.request_id), item.request.n, item.reserve_micros, details))
    try:
        engine.ledger.reserve_all(items, user=user, held_for=run_id, hold_seconds=hold_seconds)
    except LimitReached as exc:
        left = run.allowance
        raise LimitReached(
            f"This run needs {run.images} images and up to {to_usd(run.reserve_micros):.2f} USD at once; "
            f"{exc.message} Nothing was reserved: choose fewer prompts, presets or sizes, or run it as far as it goes.",
            limit=exc.limit, remaining=exc.remaining, resets_at=left.resets_at,
        ) from exc  # fmt: skip


def run_status(engine: Engine, boards: Boards, run_id: str, user: str) -> RunStatus:
    """Where the run stands, item by item; finished items' images are put on its board (once each)."""
    row = _run_row(engine, run_id, check_user(user))
    items = engine.db.query(
        "SELECT i.position, i.prompt, i.preset, i.size, i.job_id, i.collected, COALESCE(j.status, i.outcome) AS status, "
        "COALESCE(j.result, i.result) AS result, COALESCE(j.error, i.error) AS error, "
        "g.actual_micros FROM run_items i LEFT JOIN jobs j ON j.id = i.job_id LEFT JOIN generations g ON g.id = i.job_id "
        "WHERE i.run_id = :id ORDER BY i.position",
        {"id": run_id},
    )
    shown, counts = [], {}
    for item in items:
        status = item["status"] or "queued"
        counts[status] = counts.get(status, 0) + 1
        keys = json.loads(item["result"]).get("image_keys", []) if item["result"] else []
        shown.append({**dict(item), "status": status, "image_keys": keys})
    collect(engine, boards, row, [i for i in shown if i["status"] == "succeeded" and not i["collected"]])
    spent = sum(item["actual_micros"] or 0 for item in items)
    return RunStatus(run_id, row["name"], row["mode"], row["board_id"], row["created_at"], bool(row["cancelled"]),
                     counts, shown, spent, row["estimated_micros"])  # fmt: skip


def collect(engine: Engine, boards: Boards, run: Any, finished: list[dict[str, Any]]) -> None:
    """Put finished items' images on the run's board, each once."""
    for item in finished:
        try:
            with engine.db.write() as conn:
                boards.add_in(conn, run["board_id"], run["user"], item["image_keys"])
                conn.execute(
                    "UPDATE run_items SET collected = 1 WHERE run_id = :id AND position = :position",
                    {"id": run["id"], "position": item["position"]},
                )
        except ImagegenError:
            continue  # the board or an image went meanwhile: the image stays in the gallery


def on_job_finished(engine: Engine, job_id: str, is_admin: Callable[[str], bool]) -> None:
    """When a run's item is done (on whichever replica ran it), its images go on the run's board at once."""
    rows = engine.db.query("SELECT run_id FROM run_items WHERE job_id = :job", {"job": job_id})
    if rows:
        collect_run(engine, rows[0]["run_id"], is_admin)


def collect_run(engine: Engine, run_id: str, is_admin: Callable[[str], bool] = lambda _user: False) -> None:
    """Put the run's finished items' images on its board (each once)."""
    run = _run_row(engine, run_id, None)
    run_status(engine, Boards(engine.db, is_admin), run["id"], run["user"])


def cancel_run(engine: Engine, runner: JobRunner, run_id: str, user: str) -> int:
    """Cancel the run's queued items (at $0: a held reservation is released); running ones finish. Returns
    how many were cancelled."""
    run = _run_row(engine, run_id, check_user(user))
    with engine.db.write() as conn:
        conn.execute("UPDATE runs SET cancelled = 1 WHERE id = :id", {"id": run_id})
    jobs = [r["job_id"] for r in engine.db.query("SELECT job_id FROM run_items WHERE run_id = :id", {"id": run_id})]
    if run["mode"] == BATCH:
        return _cancel_batch(engine, run_id, jobs)
    cancelled = [job_id for job_id in jobs if runner.cancel(job_id, run["user"])]
    engine.ledger.release_held(run_id, cancelled)  # a job's ledger id is its job id
    return len(cancelled)


def _cancel_batch(engine: Engine, run_id: str, jobs: list[str]) -> int:
    """A batch not sent yet stops here, its holds released at $0; one sent is asked to stop, and what it did
    not make comes back refunded when it ends. Returns how many items were stopped now."""
    batching.cancel(engine, run_id)
    cancelled = engine.db.query(
        "SELECT job_id FROM run_items WHERE run_id = :id AND outcome = 'cancelled'", {"id": run_id}
    )
    released = engine.ledger.release_held(run_id, [r["job_id"] for r in cancelled if r["job_id"] in jobs])
    return len(released)


def runs_of(engine: Engine, user: str, limit: int = 10) -> list[str]:
    rows = engine.db.query(
        'SELECT id FROM runs WHERE "user" = :user ORDER BY created_at DESC LIMIT :limit',
        {"user": check_user(user), "limit": limit},
    )
    return [r["id"] for r in rows]


def _run_row(engine: Engine, run_id: str, user: str | None) -> Any:
    rows = engine.db.query("SELECT * FROM runs WHERE id = :id", {"id": run_id}) if isinstance(run_id, str) else []
    if not rows or (user is not None and rows[0]["user"] != user):
        raise NotFound("That run is not there, or it is someone else's.")
    return rows[0]
