"""One generation's way through the studio, as named steps:
plan -> check room -> reserve -> render -> keep the raw answer -> verify -> spool -> settle -> store.

Every step after the provider call runs under one settlement guard: whatever fails there settles the
reservation truthfully (committed, or billed / possibly billed), never as if nothing was spent, and the
provider's answer is already on disk for reconcile to finish. Reconcile finishes a raw entry with the
same steps (`finish`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from imagegen import imaging
from imagegen.catalog import Charge
from imagegen.errors import BadImage, ImagegenError, StorageError
from imagegen.ledger import to_micros, to_usd
from imagegen.providers import RenderJob, RenderOutput
from imagegen.request import GenerationRequest, GenerationResult, Usage
from imagegen.spool import RAW, SpoolEntry
from imagegen.storage import image_folder

if TYPE_CHECKING:
    from imagegen.studio import Plan, Studio

log = logging.getLogger("imagegen.pipeline")

#: called with a stage name and details; "partial" carries {"index": i, "image": bytes}
Progress = Callable[[str, dict[str, Any]], None]
#: the most bytes one answer image may take on disk, for the room check before spending
ANSWER_BYTES_PER_PIXEL = 4


class Generation:
    """One request by one user, run from its plan to its stored images."""

    def __init__(self, studio: Studio, plan: Plan, user: str, ledger_id: str, notify: Progress, clock: Clock) -> None:
        self.studio = studio
        self.plan = plan
        self.request = plan.request
        self.user = user
        self.id = ledger_id
        self.notify = notify
        self.clock = clock

    def run(self) -> GenerationResult:
        self.check_room()
        if self.reserve():
            return self.studio.result_of(self.id)
        begun = self.begin()
        try:
            output = self.render(begun)
        except BaseException:
            if begun is not None:
                self.studio.spool.remove(self.id)
                begun.release()
            raise
        charge = self.studio.catalog.charge(self.request, output.usage, self.plan.estimated_cost)
        try:
            with settlement_guard(self.studio, self.id, to_micros(charge.amount), self.clock):
                try:
                    entry = self.keep_raw(output, charge, begun)
                except OSError as exc:
                    # The disk failed after the room check: the answer is still in memory, so keep it in storage.
                    log.error("spooling %s failed (%s); storing the answer directly", self.id, exc)
                    result = self.store_directly(output, charge)
                    self.studio.spool.remove(self.id)  # what begin wrote: this answer is settled and stored
                    return result
        finally:
            if begun is not None:
                begun.release()  # a no-op once the kept entry owns the lock
        return finish(self.studio, entry, self.notify, self.clock)

    def begin(self) -> SpoolEntry | None:
        """The spool entry's folder, before the call: what the request is, so the answer (written there as it
        arrives) can be finished by reconcile if this process dies. None when the disk refuses it: the call
        goes ahead, and the answer is kept once it is in memory."""
        try:
            return self.studio.spool.begin(self.id, self.intent(), self._input_files())
        except OSError as exc:
            log.error("could not prepare the spool for %s (%s); the answer is kept once it arrives", self.id, exc)
            return None

    def check_room(self) -> None:
        dims = self.plan.spec.parse_size(self.request.size) or (1536, 1024)
        self.studio.spool.check_room(self.request.n * dims[0] * dims[1] * ANSWER_BYTES_PER_PIXEL * 2)

    def reserve(self) -> bool:
        """Admit the request within the quota and the budget; True when it had been made already."""
        self.notify("reserving", {"estimated_cost_usd": float(self.plan.estimated_cost)})
        reservation = self.studio.ledger.reserve(
            request_id=self.id,
            user=self.user,
            n=self.request.n,
            estimated_micros=self.plan.reserve_micros,
            details={
                **self.request.to_dict(),
                "directed_prompt": self.plan.directed.text,
                "provider": self.studio.provider.name,
            },
        )
        self.clock.lap("reserve")
        return reservation.duplicate

    def report_retry(self, attempt: int, attempts: int, wait_s: float, reason: str) -> None:
        self.notify("retrying", {"attempt": attempt, "attempts": attempts, "wait_s": wait_s, "reason": reason})

    def render(self, begun: SpoolEntry | None = None) -> RenderOutput:
        """The provider call. Its own failures are settled here: refunded when nothing can have been billed
        (refused, rate limited, never sent), recorded as possibly billed otherwise."""
        self.notify("rendering", {"provider": self.studio.provider.label})
        provider = self.studio.provider
        job = RenderJob(
            self.request,
            self.plan.directed.text,
            self.plan.spec,
            user_tag(self.user),
            self.request.preset,
            edit=self.plan.edit,
            on_retry=self.report_retry,
            answer_path=self.studio.spool.answer_path(self.id) if begun is not None else None,
        )
        self.studio.ledger.mark_sent(self.id)
        try:
            output = provider.render(job, lambda i, image: self.notify("partial", {"index": i, "image": image}))
        except ImagegenError as exc:
            settle_failure(self.studio, self.id, exc, self.clock)
            raise
        except Exception as exc:
            log.exception("render of %s failed unexpectedly", self.id)
            failure = _unexpected(exc, sent=getattr(provider, "request_sent", lambda: True)())
            settle_failure(self.studio, self.id, failure, self.clock)
            raise failure from exc
        self.clock.lap("render")
        if not output.images:
            failure = BadImage("The provider answered without any image. You may have been charged; try again.")
            settle_failure(self.studio, self.id, failure, self.clock)
            raise failure
        return output

    def keep_raw(self, output: RenderOutput, charge: Charge, begun: SpoolEntry | None = None) -> SpoolEntry:
        self.notify("verifying", {})
        answers = [image.data for image in output.images]
        inputs = [] if begun is not None else self._input_files()  # begin wrote them
        return self.studio.spool.keep_raw(self.id, answers, self._data(output, charge), inputs, begun=begun)

    def _input_files(self) -> list[tuple[str, bytes]]:
        edit = self.plan.edit
        return [(item.name, item.data) for item in edit.files()] if edit else []

    def store_directly(self, output: RenderOutput, charge: Charge) -> GenerationResult:
        """Without a spool: verify, charge, then upload from memory (a crash in between loses the image)."""
        data = {**self._data(output, charge), "request_id": self.id}
        records, files = _checked_files(self.studio, data, [image.data for image in output.images], self.clock)
        _commit(self.studio, self.id, data, records, self.clock)
        by_name = dict(files + self._input_files())
        for record in records:
            self.studio.library.keep(record, by_name)
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
            "provider": self.studio.provider.name,
            "estimated_cost_usd": str(self.plan.estimated_cost),
            "warnings": list(self.plan.warnings),
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "parent_key": self.plan.edit.parent_key if self.plan.edit else "",
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
        "usage": output.usage.__dict__ if output.usage else None,
        "warnings": [*intent.get("warnings", []), *output.notes],
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


def keep_answered(studio: Studio, request_id: str) -> bool:
    """Make the raw spool entry a process that died after its answer arrived could not: from the request's
    intent and the answer kept as it arrived, charged by its usage. An answer cut short (or an error) is
    dropped; the reservation's expiry then records it as possibly billed. True when an entry was made."""
    with studio.spool.claim_answered(request_id) as claimed:
        if claimed is None:
            return False
        intent, answer_file, locked = claimed
        recover = getattr(studio.provider, "recover_answer", None)
        output = recover(answer_file) if recover is not None else None
        if output is None or not output.images:
            studio.spool.remove(request_id)
            return False
        request = GenerationRequest.from_dict(intent["request"])
        charge = studio.catalog.charge(request, output.usage, Decimal(intent["estimated_cost_usd"]))
        data = {**answered(intent, output, charge), "created_at": intent["created_at"]}
        answers = [image.data for image in output.images]
        studio.spool.keep_raw(request_id, answers, data, begun=locked).release()
        log.warning("kept the answer to %s that a stopped process had received", request_id)
        return True


def finish(
    studio: Studio, entry: SpoolEntry, notify: Progress, clock: Clock, *, force_upload: bool = False
) -> GenerationResult:
    """Verify, spool, settle and store a kept answer: the rest of a generation, or what reconcile does with
    the raw answer a crashed process left. The entry is released at the end."""
    data = entry.data
    try:
        with settlement_guard(studio, entry.request_id, int(data["actual_micros"]), clock, entry=entry):
            records = _verify_and_spool(studio, entry, clock) if entry.phase == RAW else data["records"]
            notify("saving", {})
            # Charged before the upload: from here on a crash leaves a spooled, paid image that reconcile
            # uploads, never an upload whose charge is lost.
            _commit(studio, entry.request_id, data, records, clock)
        pending = not studio.store_spooled(entry.request_id, records, force=force_upload)
    finally:
        entry.release()
    clock.lap("store")
    studio.ledger.record_timings(entry.request_id, clock.timings())
    return _result(data, records, pending, clock.timings())


def _commit(studio: Studio, ledger_id: str, data: dict[str, Any], records: list[dict[str, Any]], clock: Clock) -> None:
    studio.ledger.commit(
        ledger_id,
        actual_micros=int(data["actual_micros"]),
        usage=Usage(**data["usage"]) if data.get("usage") else None,
        timings_ms=clock.timings(),
        image_keys=[r["key"] for r in records],
        revised_prompt=records[0].get("revised_prompt"),
        estimated=bool(data.get("cost_estimated")),
    )


def _verify_and_spool(studio: Studio, entry: SpoolEntry, clock: Clock) -> list[dict[str, Any]]:
    records, files = _checked_files(studio, entry.data, entry.raw_images(), clock)
    studio.spool.keep(entry, files, {**entry.data, "records": records})
    clock.lap("spool")
    return records


def _checked_files(
    studio: Studio, data: dict[str, Any], answers: list[bytes], clock: Clock
) -> tuple[list[dict[str, Any]], list[tuple[str, bytes]]]:
    """Verify each answer, and make its record and thumbnail: the records and the files to keep."""
    request = GenerationRequest.from_dict(data["request"])
    expected = studio.catalog.get(request.model).parse_size(request.size)
    pictures = [imaging.verify_image(raw, request.output_format, expected) for raw in answers]
    clock.lap("verify")
    created = datetime.fromisoformat(data["created_at"])
    records, files = [], []
    for index, (picture, original) in enumerate(zip(pictures, answers, strict=True)):
        record = _record(studio, data, request, index, created, picture, data["revised_prompts"][index], len(answers))
        record["bytes"] = len(original)
        records.append(record)
        files.append((record["file"], original))
        files.append((record["thumb_file"], imaging.make_thumbnail(picture)))
    for record in records:
        record["timings_ms"] = clock.timings()
    _add_lineage(studio, data, records, created)
    return records, files


def _add_lineage(studio: Studio, data: dict[str, Any], records: list[dict[str, Any]], created: datetime) -> None:
    """What each image was made from: the gallery image it edits, and its inputs, kept once beside the
    request's first image (whose record says which files to upload there)."""
    inputs = data.get("inputs") or []
    folder = image_folder(studio.settings.s3_prefix, data["user"], created, f"{data['request_id']}-0")
    kept = [{**item, "key": folder + item["file"]} for item in inputs]
    for record in records:
        record["parent_key"] = data.get("parent_key") or ""
        record["inputs"] = [{"role": item["role"], "key": item["key"]} for item in kept]
    if kept:
        records[0]["input_files"] = kept


def _record(
    studio: Studio,
    data: dict[str, Any],
    request: GenerationRequest,
    index: int,
    created: datetime,
    picture: Any,
    revised: str | None,
    count: int,
) -> dict[str, Any]:
    image_id = f"{data['request_id']}-{index}"
    folder = image_folder(studio.settings.s3_prefix, data["user"], created, image_id)
    return {
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
        "lighting": request.lighting,
        "camera": request.camera,
        "preset": request.preset,
        "model": request.model,
        "provider": data["provider"],
        "size": request.size,
        "width": picture.width,
        "height": picture.height,
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
        revised_prompt=records[0].get("revised_prompt"),
        usage=Usage(**data["usage"]) if data.get("usage") else None,
        timings_ms=timings,
        warnings=list(data.get("warnings", [])),
        pending_upload=pending,
        provider=data["provider"],
    )


@contextmanager
def settlement_guard(
    studio: Studio, ledger_id: str, billed_micros: int, clock: Clock, entry: SpoolEntry | None = None
) -> Iterator[None]:
    """After the provider answered, nothing may escape settlement: a bad image is recorded as billed and
    dropped; any other failure is recorded as billed with the answer kept in the spool, so reconcile can
    still deliver it (and then charges it as delivered)."""
    try:
        yield
    except BadImage as exc:
        # The provider billed for this answer (its usage says what), but it is not the image asked for.
        settle_failure(studio, ledger_id, exc, clock, billed_micros=billed_micros)
        if entry is not None:
            studio.spool.remove(entry.request_id)
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
            settle_failure(studio, ledger_id, failure, clock, billed_micros=billed_micros)
        except ImagegenError:
            log.exception("could not settle %s; reconcile settles it from the spool", ledger_id)
        if isinstance(exc, ImagegenError) and exc.charged:
            raise
        raise failure from exc


def settle_failure(
    studio: Studio,
    ledger_id: str,
    exc: ImagegenError,
    clock: Clock,
    *,
    billed_micros: int | None = None,
) -> None:
    clock.lap("render")
    timings = clock.timings()
    if billed_micros is not None or exc.charged:
        studio.ledger.record_ambiguous(
            ledger_id, error_code=exc.code, message=exc.message, timings_ms=timings, billed_micros=billed_micros
        )
    else:
        studio.ledger.refund(ledger_id, error_code=exc.code, message=exc.message, timings_ms=timings)


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
