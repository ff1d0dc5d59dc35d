"""One generation's way through the studio, as named steps:
plan -> check room -> reserve -> render -> keep the raw answer -> verify -> spool -> settle -> store.

Every step after the provider call runs under one settlement guard: whatever fails there settles the
reservation truthfully (committed, or billed / possibly billed), never as if nothing was spent, and the
provider's answer is already on disk for reconcile to finish. Reconcile finishes a raw entry with the
same steps (`finish`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from imagegen import imaging
from imagegen.answers import CheckedAnswer, check_answer, record_fields
from imagegen.catalog import Charge
from imagegen.checks import check_user, scoped_id
from imagegen.edits import EditInputs
from imagegen.engine import Engine
from imagegen.errors import BadImage, ContentRejected, ImagegenError, InvalidRequest, StorageError
from imagegen.money import to_micros, to_usd
from imagegen.planning import Plan, plan
from imagegen.providers import RenderJob, RenderOutput
from imagegen.request import RUN_PREFIX, GenerationRequest, GenerationResult, Usage
from imagegen.spool import RAW, SpoolEntry
from imagegen.storage import image_folder

log = logging.getLogger("imagegen.pipeline")

#: called with a stage name and details; "partial" carries {"index": i, "image": bytes}
Progress = Callable[[str, dict[str, Any]], None]
#: the most bytes one answer image may take on disk, for the room check before spending
ANSWER_BYTES_PER_PIXEL = 4


def generate(
    engine: Engine,
    request: GenerationRequest,
    user: str,
    progress: Progress | None = None,
    edit: EditInputs | None = None,
) -> GenerationResult:
    """Run one request to its end (with `edit`, an edit of its images). Raises an ImagegenError saying what
    happened and whether it cost. Its ledger id is the request id scoped to its user (`scoped_id`): another
    user's same request id is another request, and a job's id is this same id, which recovery relies on."""
    notify = quiet(progress)
    user = check_user(user)
    clock = Clock()
    notify("directing", {})
    planned = plan(engine, request, edit)
    clock.lap("direct")
    return Generation(engine, planned, user, scoped_id(user, planned.request.request_id), notify, clock).run()


class Generation:
    """One request by one user, run from its plan to its stored images."""

    def __init__(self, engine: Engine, plan: Plan, user: str, ledger_id: str, notify: Progress, clock: Clock) -> None:
        self.engine = engine
        self.plan = plan
        self.request = plan.request
        self.user = user
        self.id = ledger_id
        self.notify = notify
        self.clock = clock

    def run(self) -> GenerationResult:
        self.check_room()
        if self.reserve():
            return result_of(self.engine, self.id)
        begun = self.begin()
        try:
            output = self.render(begun)
        except BaseException:
            if begun is not None:
                self.engine.spool.remove(self.id)
                begun.release()
            raise
        charge = self.engine.catalog.charge(self.request, output.usage, self.plan.estimated_cost)
        try:
            with settlement_guard(self.engine, self.id, to_micros(charge.amount), self.clock):
                try:
                    entry = self.keep_raw(output, charge, begun)
                except OSError as exc:
                    # The disk failed after the room check: the answer is still in memory, so keep it in storage.
                    log.error("spooling %s failed (%s); storing the answer directly", self.id, exc)
                    result = self.store_directly(output, charge)
                    self.engine.spool.remove(self.id)  # what begin wrote: this answer is settled and stored
                    return result
        finally:
            if begun is not None:
                begun.release()  # a no-op once the kept entry owns the lock
        return finish(self.engine, entry, self.notify, self.clock)

    def begin(self) -> SpoolEntry | None:
        """The spool entry's folder, before the call: what the request is, so the answer (written there as it
        arrives) can be finished by reconcile if this process dies. None when the disk refuses it: the call
        goes ahead, and the answer is kept once it is in memory."""
        try:
            return self.engine.spool.begin(self.id, self.intent(), self._input_files())
        except OSError as exc:
            log.error("could not prepare the spool for %s (%s); the answer is kept once it arrives", self.id, exc)
            return None

    def check_room(self) -> None:
        dims = self.plan.spec.parse_size(self.request.size) or (1536, 1024)
        self.engine.spool.check_room(self.request.n * dims[0] * dims[1] * ANSWER_BYTES_PER_PIXEL * 2)

    def reserve(self) -> bool:
        """Admit the request within the quota and the budget; True when it had been made already."""
        self.notify("reserving", {"estimated_cost_usd": float(self.plan.estimated_cost)})
        if self.request.request_id.startswith(RUN_PREFIX) and self.engine.ledger.take_held(self.id):
            self.clock.lap("reserve")
            return False  # reserved with the rest of its run when the run started
        reservation = self.engine.ledger.reserve(
            ledger_id=self.id,
            user=self.user,
            n=self.request.n,
            estimated_micros=self.plan.reserve_micros,
            details={
                **self.request.to_dict(),
                "directed_prompt": self.plan.directed.text,
                "provider": self.engine.provider.name,
            },
        )
        self.clock.lap("reserve")
        return reservation.duplicate

    def report_retry(self, attempt: int, attempts: int, wait_s: float, reason: str) -> None:
        self.notify("retrying", {"attempt": attempt, "attempts": attempts, "wait_s": wait_s, "reason": reason})

    def render(self, begun: SpoolEntry | None = None) -> RenderOutput:
        """The provider call. Its own failures are settled here: refunded when nothing can have been billed
        (refused, rate limited, never sent), recorded as possibly billed otherwise."""
        self.notify("rendering", {"provider": self.engine.provider.label})
        provider = self.engine.provider
        job = render_job(
            self.request,
            self.plan,
            self.user,
            on_retry=self.report_retry,
            answer_path=self.engine.spool.answer_path(self.id) if begun is not None else None,
        )
        self.engine.ledger.mark_sent(self.id)
        try:
            output = provider.render(job, lambda i, image: self.notify("partial", {"index": i, "image": image}))
        except ImagegenError as exc:
            settle_failure(self.engine, self.id, exc, self.clock)
            raise
        except Exception as exc:
            log.exception("render of %s failed unexpectedly", self.id)
            failure = _unexpected(exc, sent=getattr(provider, "request_sent", lambda: True)())
            settle_failure(self.engine, self.id, failure, self.clock)
            raise failure from exc
        self.clock.lap("render")
        if not output.images:
            failure = BadImage("The provider answered without any image. You may have been charged; try again.")
            settle_failure(self.engine, self.id, failure, self.clock)
            raise failure
        return output

    def keep_raw(self, output: RenderOutput, charge: Charge, begun: SpoolEntry | None = None) -> SpoolEntry:
        self.notify("verifying", {})
        answers = [image.data for image in output.images]
        inputs = [] if begun is not None else self._input_files()  # begin wrote them
        return self.engine.spool.keep_raw(self.id, answers, self._data(output, charge), inputs, begun=begun)

    def _input_files(self) -> list[tuple[str, bytes]]:
        edit = self.plan.edit
        return [(item.name, item.data) for item in edit.files()] if edit else []

    def store_directly(self, output: RenderOutput, charge: Charge) -> GenerationResult:
        """Without a spool: verify, charge, then upload from memory (a crash in between loses the image)."""
        data = {**self._data(output, charge), "request_id": self.id}
        records, files = _checked_files(self.engine, data, [image.data for image in output.images], self.clock)
        _commit(self.engine, self.id, data, records, self.clock)
        by_name = dict(files + self._input_files())
        for record in records:
            self.engine.library.keep(record, by_name)
        self.clock.lap("store")
        return _result(data, records, False, self.clock.timings())

    def _data(self, output: RenderOutput, charge: Charge) -> dict[str, Any]:
        """What finishing the request needs besides the images: kept with the raw answer."""
        return answered(self.intent(), output, charge)

    def intent(self) -> dict[str, Any]:
        """What the request is, before its answer: all that finishing it needs but what the answer says."""
        directed = self.plan.directed
        return {
            "user": self.user,
            "request": self.request.to_dict(),
            "prompt": directed.user_prompt,
            "directed_prompt": directed.text,
            "additions": [[a.facet, a.text] for a in directed.additions],
            "provider": self.engine.provider.name,
            "estimated_cost_usd": str(self.plan.estimated_cost),
            "warnings": list(self.plan.warnings),
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "parent_key": self.plan.edit.parent_key if self.plan.edit else "",
            "rewrite": self.plan.rewrite,
            "inputs": [
                {"file": item.name, "role": item.role, "content_type": item.content_type}
                for item in (self.plan.edit.files() if self.plan.edit else [])
            ],
        }


def answered(intent: dict[str, Any], output: RenderOutput, charge: Charge) -> dict[str, Any]:
    """A request's intent with what its answer said: the data a raw spool entry keeps."""
    return {
        **intent,
        "revised_prompts": [image.revised_prompt for image in output.images],
        "actual_micros": to_micros(charge.amount),
        "cost_estimated": charge.estimated,
        "usage": output.usage.to_dict() if output.usage else None,
        "warnings": [*intent.get("warnings", []), *output.notes],
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


def finish(
    engine: Engine, entry: SpoolEntry, notify: Progress, clock: Clock, *, force_upload: bool = False
) -> GenerationResult:
    """Verify, spool, settle and store a kept answer: the rest of a generation, or what reconcile does with
    the raw answer a crashed process left. The entry is released at the end."""
    data = entry.data
    try:
        with settlement_guard(engine, entry.request_id, int(data["actual_micros"]), clock, entry=entry):
            records = _verify_and_spool(engine, entry, clock) if entry.phase == RAW else data["records"]
            notify("saving", {})
            # Charged before the upload: from here on a crash leaves a spooled, paid image that reconcile
            # uploads, never an upload whose charge is lost.
            _commit(engine, entry.request_id, data, records, clock)
        pending = not store_spooled(engine, entry.request_id, records, force=force_upload)
    finally:
        entry.release()
    clock.lap("store")
    engine.ledger.record_timings(entry.request_id, clock.timings())
    return _result(data, records, pending, clock.timings())


def _commit(engine: Engine, ledger_id: str, data: dict[str, Any], records: list[dict[str, Any]], clock: Clock) -> None:
    engine.ledger.commit(
        ledger_id,
        actual_micros=int(data["actual_micros"]),
        usage=Usage(**data["usage"]) if data.get("usage") else None,
        timings_ms=clock.timings(),
        image_keys=[r["key"] for r in records],
        revised_prompt=records[0].get("revised_prompt"),
        estimated=bool(data.get("cost_estimated")),
    )


def _verify_and_spool(engine: Engine, entry: SpoolEntry, clock: Clock) -> list[dict[str, Any]]:
    records, files = _checked_files(engine, entry.data, entry.raw_images(), clock)
    engine.spool.keep(entry, files, {**entry.data, "records": records})
    clock.lap("spool")
    return records


def _checked_files(
    engine: Engine, data: dict[str, Any], answers: list[bytes], clock: Clock
) -> tuple[list[dict[str, Any]], list[tuple[str, bytes]]]:
    """Verify each answer, and make its record and thumbnail: the records and the files to keep."""
    request = GenerationRequest.from_dict(data["request"])
    expected = engine.catalog.get(request.model).parse_size(request.size)
    checked = [check_answer(raw, request.output_format, expected) for raw in answers]
    clock.lap("verify")
    created = datetime.fromisoformat(data["created_at"])
    records, files = [], []
    for index, answer in enumerate(checked):
        record = _record(engine, data, request, index, created, answer, data["revised_prompts"][index], len(answers))
        record["bytes"] = len(answer.kept)
        records.append(record)
        files.append((record["file"], answer.kept))
        files.append((record["thumb_file"], imaging.make_thumbnail(answer.picture)))
        if answer.provider_original is not None:
            files.append((record["audit_file"], answer.provider_original))
    for record in records:
        record["timings_ms"] = clock.timings()
    _add_lineage(engine, data, records, created)
    return records, files


def _add_lineage(engine: Engine, data: dict[str, Any], records: list[dict[str, Any]], created: datetime) -> None:
    """What each image was made from: the gallery image it edits, and its inputs, kept once beside the
    request's first image (whose record says which files to upload there)."""
    inputs = data.get("inputs") or []
    folder = image_folder(engine.settings.s3_prefix, data["user"], created, f"{data['request_id']}-0")
    kept = [{**item, "key": folder + item["file"]} for item in inputs]
    for record in records:
        record["parent_key"] = data.get("parent_key") or ""
        record["inputs"] = [{"role": item["role"], "key": item["key"]} for item in kept]
    if kept:
        records[0]["input_files"] = kept


def _record(
    engine: Engine,
    data: dict[str, Any],
    request: GenerationRequest,
    index: int,
    created: datetime,
    answer: CheckedAnswer,
    revised: str | None,
    count: int,
) -> dict[str, Any]:
    image_id = f"{data['request_id']}-{index}"
    folder = image_folder(engine.settings.s3_prefix, data["user"], created, image_id)
    return record_fields(answer, folder, index) | {
        "id": image_id,
        "request_id": data["request_id"],
        "index": index,
        "key": f"{folder}original.{request.output_format}",
        "thumb_key": f"{folder}thumb.webp",
        "record_key": f"{folder}record.json",
        "file": f"{index}.{request.output_format}",
        "thumb_file": f"{index}.thumb.webp",
        "user": data["user"],
        "created_at": data["created_at"],
        "prompt": data["prompt"],
        "directed_prompt": data["directed_prompt"],
        "additions": data["additions"],
        "revised_prompt": revised,
        "raw": request.raw,
        "rewrite": data.get("rewrite"),
        "team_colours": request.team_colours,
        "lighting": request.lighting,
        "camera": request.camera,
        "preset": request.preset,
        "model": request.model,
        "provider": data["provider"],
        "size": request.size,
        "kind": request.kind,
        "frame_count": request.frame_count,
        "frame_duration_ms": request.frame_duration_ms,
        "svg_author": request.svg_author,
        "svg_effort": request.svg_effort,
        "width": answer.width,
        "height": answer.height,
        "quality": request.quality,
        "format": request.output_format,
        "background": request.background,
        "compression": request.compression,
        "n": request.n,
        "cost_usd": to_usd(int(data["actual_micros"])) / count,
        "estimated_cost_usd": float(data["estimated_cost_usd"]),
        "usage": data.get("usage"),
    }


def _result(
    data: dict[str, Any], records: list[dict[str, Any]], pending: bool, timings: dict[str, int]
) -> GenerationResult:
    request = GenerationRequest.from_dict(data["request"])
    return GenerationResult(
        id=data["request_id"],
        status="succeeded",
        user=data["user"],
        prompt=data["prompt"],
        directed_prompt=data["directed_prompt"],
        additions=[text for _, text in data["additions"]],
        preset=request.preset,
        model=request.model,
        size=request.size,
        quality=request.quality,
        n=request.n,
        output_format=request.output_format,
        background=request.background,
        estimated_cost_usd=float(data["estimated_cost_usd"]),
        cost_usd=to_usd(int(data["actual_micros"])),
        image_keys=[r["key"] for r in records],
        created_at=data["created_at"],
        revised_prompt=records[0].get("revised_prompt") if records else None,
        usage=Usage(**data["usage"]) if data.get("usage") else None,
        timings_ms=timings,
        warnings=list(data.get("warnings", [])),
        pending_upload=pending,
        provider=data["provider"],
    )


@contextmanager
def settlement_guard(
    engine: Engine, ledger_id: str, billed_micros: int, clock: Clock, entry: SpoolEntry | None = None
) -> Iterator[None]:
    """After the provider answered, nothing may escape settlement: a bad image is recorded as billed and
    dropped; any other failure is recorded as billed with the answer kept in the spool, so reconcile can
    still deliver it (and then charges it as delivered)."""
    try:
        yield
    except BadImage as exc:
        # The provider billed for this answer (its usage says what), but it is not the image asked for.
        settle_failure(engine, ledger_id, exc, clock, billed_micros=billed_micros)
        if entry is not None:
            engine.spool.remove(entry.request_id)
        raise
    except Exception as exc:
        log.exception("generation %s failed after the provider answered", ledger_id)
        kept = entry is not None
        failure = StorageError(
            "The image was made and paid for, but this server could not finish saving it"
            + (
                f" ({_describe(exc)}). It is kept on this server and will appear once an admin fixes it."
                if kept
                else f" ({_describe(exc)})."
            )
        )
        failure.charged = True
        try:
            settle_failure(engine, ledger_id, failure, clock, billed_micros=billed_micros)
        except ImagegenError:
            log.exception("could not settle %s; reconcile settles it from the spool", ledger_id)
        if isinstance(exc, ImagegenError) and exc.charged:
            raise
        raise failure from exc


def settle_failure(
    engine: Engine,
    ledger_id: str,
    exc: ImagegenError,
    clock: Clock,
    *,
    billed_micros: int | None = None,
) -> None:
    clock.lap("render")
    timings = clock.timings()
    if billed_micros is not None or exc.charged:
        engine.ledger.record_ambiguous(
            ledger_id, error_code=exc.code, message=exc.message, timings_ms=timings, billed_micros=billed_micros
        )
    else:
        engine.ledger.refund(ledger_id, error_code=exc.code, message=exc.message, timings_ms=timings)


def _unexpected(exc: Exception, *, sent: bool) -> ImagegenError:
    if not sent:
        failure = ImagegenError(
            f"The request could not be sent to the image service ({type(exc).__name__}); you were not charged. "
            "An admin can see the log."
        )
        failure.code = "not_sent"
        return failure
    return BadImage(f"Something went wrong while rendering ({type(exc).__name__}). You may have been charged.")


def _describe(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def render_job(request: GenerationRequest, planned: Plan, user: str, **how: Any) -> RenderJob:
    """What the provider is asked to make for `request` as `planned` (`how`: RenderJob's optional fields)."""
    return RenderJob(
        request, planned.directed.text, planned.spec, user_tag(user), request.preset, edit=planned.edit, **how
    )


def user_tag(user: str) -> str:
    # The provider's safety identifier: stable per user, without sending who they are.
    return hashlib.sha256(user.encode()).hexdigest()[:32]


class Clock:
    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + (now - self.last)
        self.last = now

    def timings(self) -> dict[str, int]:
        result = {name: round(seconds * 1000) for name, seconds in self.laps.items()}
        result["total"] = round((time.perf_counter() - self.start) * 1000)
        return result


def store_spooled(engine: Engine, request_id: str, records: list[dict[str, Any]], *, force: bool = False) -> bool:
    """Upload a spooled request; on failure index it as pending (shown from the spool) and say so."""
    try:
        engine.library.upload_pending(request_id, force=force)
        return True
    except StorageError as exc:
        log.warning("upload of %s failed, kept in the spool for reconcile: %s", request_id, exc)
        for record in records:
            engine.library.index(record, pending=True)
        return False


def result_of(engine: Engine, ledger_id: str) -> GenerationResult:
    """The outcome of a request already made (a resubmit with the same request id), by its ledger id: read
    back from the log, and told as a finished generation is."""
    row = engine.ledger.generation(ledger_id)
    if row is None:
        raise InvalidRequest(f"No request {ledger_id}.")
    if row["status"] == "reserved":
        raise InvalidRequest("This request is already being generated; its result will appear when it is done.")
    if row["status"] != "committed":
        raise _replayed_failure(row)
    asked = GenerationRequest(
        row["prompt"],
        preset=row["preset"],
        model=row["model"],
        size=row["size"],
        quality=row["quality"],
        n=row["n"],
        output_format=row["output_format"],
        request_id=row["request_id"],
    )
    logged = {
        "request_id": ledger_id,
        "request": asked.to_dict(),
        "user": row["user"],
        "prompt": row["prompt"],
        "directed_prompt": row["directed_prompt"],
        "additions": [],
        "estimated_cost_usd": to_usd(row["estimated_micros"]),
        "actual_micros": row["actual_micros"],
        "created_at": row["created_at"],
        "provider": row["provider"] or "",
        "warnings": ["Already generated: this is the first result, not a new charge."],
    }
    images = [{"key": key, "revised_prompt": row["revised_prompt"]} for key in json.loads(row["image_keys"] or "[]")]
    return _result(logged, images, False, {})


def _replayed_failure(row: dict[str, Any]) -> ImagegenError:
    code = row.get("error_code") or ""
    message = row.get("error_message") or "This request failed earlier."
    if code == "content_rejected":
        return ContentRejected(message)
    error = ImagegenError(message)
    error.code = code or "failed"
    return error


def quiet(progress: Progress | None) -> Progress:
    """Progress reports that can never fail a generation: a preview that cannot be saved is not the image."""
    if progress is None:
        return lambda stage, details: None

    def notify(stage: str, details: dict[str, Any]) -> None:
        try:
            progress(stage, details)
        except Exception:
            log.warning("progress report %r failed; the generation goes on", stage, exc_info=True)

    return notify
