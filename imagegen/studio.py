"""The pipeline, in order: validate, direct, reserve, render, verify, keep, settle."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from imagegen import imaging
from imagegen.catalog import Catalog, ModelSpec
from imagegen.db import Database
from imagegen.director import DirectedPrompt, DirectorOptions, PresetBook, direct, load_presets
from imagegen.errors import BadImage, ContentRejected, Forbidden, ImagegenError, InvalidRequest, StorageError
from imagegen.history import HistoryFilter, HistoryPage, Library
from imagegen.ledger import Allowance, Ledger, to_micros, to_usd
from imagegen.providers import Provider, RenderJob, make_provider
from imagegen.request import BACKGROUNDS, FORMATS, GenerationRequest, GenerationResult
from imagegen.settings import Settings
from imagegen.spool import Spool
from imagegen.storage import ObjectStore, image_folder, make_object_store

log = logging.getLogger("imagegen")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_USER_LENGTH = 200

#: called with a stage name and details; "partial" carries {"index": i, "image": bytes}
Progress = Callable[[str, dict[str, Any]], None]
STAGES = ("directing", "reserving", "rendering", "verifying", "saving")


@dataclass(frozen=True)
class Plan:
    """What a request will do, worked out before anything is spent: the page's live preview."""

    request: GenerationRequest
    spec: ModelSpec
    directed: DirectedPrompt
    estimated_cost: Decimal
    warnings: list[str] = field(default_factory=list)

    @property
    def estimated_micros(self) -> int:
        return to_micros(self.estimated_cost)


class Studio:
    def __init__(
        self,
        settings: Settings,
        *,
        catalog: Catalog | None = None,
        presets: PresetBook | None = None,
        provider: Provider | None = None,
        db: Database | None = None,
        store: ObjectStore | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog or Catalog.load()
        self.presets = presets or load_presets()
        self.provider = provider or make_provider(settings)
        self.db = db or Database(settings.db_path)
        self.ledger = Ledger(self.db, settings)
        self.spool = Spool(settings.spool_dir)
        self.library = Library(store or make_object_store(settings), self.db, settings.s3_prefix, self.spool)

    @classmethod
    def from_env(cls) -> Studio:
        return cls(Settings.from_env())

    # -- before spending -------------------------------------------------------------------------

    def models(self, today: date | None = None) -> list[ModelSpec]:
        """The models this deployment can use, in catalog order; shut-down ones only on compatible servers."""
        today = today or date.today()
        if self.settings.provider == "offline":
            return [self.catalog.get("offline")]
        usable = [m for m in self.catalog.models() if m.family != "offline"]
        if not self.settings.openai_base_url:
            usable = [m for m in usable if m.lifecycle_on(today) != "shut_down"]
        return usable

    def resolve(self, request: GenerationRequest) -> GenerationRequest:
        """The request with every blank filled from the model's and the preset's defaults."""
        model = request.model or self.settings.default_model
        spec = self.catalog.get(model)
        preset = self.presets.get(request.preset)
        background = request.background
        if not background:
            background = preset.background if preset.background in spec.backgrounds else ""
            if background == "transparent" and request.output_format == "jpeg":
                background = "auto"
        return replace(
            request,
            model=model,
            size=(request.size or spec.default_size).strip().lower(),
            quality=request.quality or spec.default_quality,
            background=background,
        )

    def plan(self, request: GenerationRequest) -> Plan:
        """Validate and direct a request, and price it. Raises InvalidRequest with what to change."""
        if request.output_format not in FORMATS:
            raise InvalidRequest(f"Output format {request.output_format!r} is not one of {', '.join(FORMATS)}.")
        if request.background and request.background not in BACKGROUNDS:
            raise InvalidRequest(f"Background {request.background!r} is not one of {', '.join(BACKGROUNDS)}.")
        if not _REQUEST_ID.match(request.request_id):
            raise InvalidRequest("A request id is 8 to 64 letters, digits, '-' or '_'.")
        request = self.resolve(request)
        spec = self.catalog.get(request.model)
        preset = self.presets.get(request.preset)
        options = DirectorOptions(raw=request.raw, lighting=request.lighting, camera=request.camera)
        directed = direct(request.prompt, preset, options, spec.prompt_max)
        warnings = self.catalog.validate(
            request, directed.text, custom_endpoint=bool(self.settings.openai_base_url), today=date.today()
        )
        if spec.family == "offline" and self.settings.provider != "offline":
            raise InvalidRequest("The offline renderer is only used when no provider is configured.")
        if spec.family != "offline" and self.settings.provider == "offline":
            raise InvalidRequest(f"{spec.id} needs a provider: set OPENAI_API_KEY (see the README).")
        cost = self.catalog.estimate_cost(request, directed.text)
        return Plan(request, spec, directed, cost, warnings)

    def allowance(self, user: str) -> Allowance:
        return self.ledger.allowance(_check_user(user))

    # -- spending --------------------------------------------------------------------------------

    def generate(self, request: GenerationRequest, user: str, progress: Progress | None = None) -> GenerationResult:
        """Run one request to its end. Raises an ImagegenError saying what happened and whether it cost."""
        notify = progress or (lambda stage, details: None)
        user = _check_user(user)
        clock = _Clock()
        notify("directing", {})
        plan = self.plan(request)
        request = plan.request
        clock.lap("direct")

        notify("reserving", {"estimated_cost_usd": float(plan.estimated_cost)})
        reservation = self.ledger.reserve(
            request_id=request.request_id,
            user=user,
            n=request.n,
            estimated_micros=plan.estimated_micros,
            details={
                **request.to_dict(),
                "directed_prompt": plan.directed.text,
                "provider": self.provider.name,
            },
        )
        if reservation.duplicate:
            return self.result_of(request.request_id)
        clock.lap("reserve")

        try:
            notify("rendering", {"provider": self.provider.label})
            job = RenderJob(request, plan.directed.text, plan.spec, _user_tag(user), request.preset)
            output = self.provider.render(job, lambda i, image: notify("partial", {"index": i, "image": image}))
            clock.lap("render")
            notify("verifying", {})
            expected = plan.spec.parse_size(request.size)
            if not output.images:
                raise BadImage("The provider answered without any image. You may have been charged; try again.")
            checked = [imaging.verify_image(img.data, request.output_format, expected) for img in output.images]
            clock.lap("verify")
        except ImagegenError as exc:
            self._settle_failure(request.request_id, exc, clock)
            raise
        except Exception as exc:
            log.exception("render of %s failed unexpectedly", request.request_id)
            failure = BadImage(
                f"Something went wrong while rendering ({type(exc).__name__}). You may have been charged."
            )
            self._settle_failure(request.request_id, failure, clock)
            raise failure from exc

        notify("saving", {})
        actual = self.catalog.actual_cost(request, output.usage, plan.estimated_cost)
        created = datetime.now(UTC)
        records = []
        files: list[tuple[str, bytes]] = []
        for index, (rendered, picture) in enumerate(zip(output.images, checked, strict=True)):
            image_id = f"{request.request_id}-{index}"
            folder = image_folder(self.settings.s3_prefix, user, created, image_id)
            record = {
                "id": image_id,
                "request_id": request.request_id,
                "index": index,
                "key": f"{folder}original.{request.output_format}",
                "thumb_key": f"{folder}thumb.webp",
                "record_key": f"{folder}record.json",
                "file": f"{index}.{request.output_format}",
                "thumb_file": f"{index}.thumb.webp",
                "user": user,
                "created_at": created.isoformat(timespec="milliseconds"),
                "prompt": plan.directed.user_prompt,
                "directed_prompt": plan.directed.text,
                "additions": [[a.facet, a.text] for a in plan.directed.additions],
                "revised_prompt": rendered.revised_prompt,
                "raw": request.raw,
                "lighting": request.lighting,
                "camera": request.camera,
                "preset": request.preset,
                "model": request.model,
                "provider": self.provider.name,
                "size": request.size,
                "width": picture.width,
                "height": picture.height,
                "quality": request.quality,
                "format": request.output_format,
                "background": request.background,
                "compression": request.compression,
                "n": request.n,
                "bytes": len(rendered.data),
                "cost_usd": to_usd(to_micros(actual)) / len(output.images),
                "estimated_cost_usd": float(plan.estimated_cost),
                "usage": output.usage.__dict__ if output.usage else None,
            }
            records.append(record)
            files.append((record["file"], rendered.data))
            files.append((record["thumb_file"], imaging.make_thumbnail(picture)))
        for record in records:
            record["timings_ms"] = clock.timings()
        try:
            entry = self.spool.write(
                request.request_id, files, {"records": records, "actual_micros": to_micros(actual)}
            )
        except OSError as exc:
            log.exception("spooling %s failed", request.request_id)
            self.ledger.commit(request.request_id, actual_micros=to_micros(actual), usage=output.usage)
            failure = StorageError(
                f"The image was made and paid for, but this server could not save it ({exc.strerror}). "
                "Ask an admin to free disk space; you were charged."
            )
            failure.charged = True
            raise failure from exc
        clock.lap("spool")
        keys = [r["key"] for r in records]
        try:
            # Charged before the upload: from here on a crash leaves a spooled, paid image that reconcile
            # uploads, never an upload whose charge is lost.
            self.ledger.commit(
                request.request_id,
                actual_micros=to_micros(actual),
                usage=output.usage,
                timings_ms=clock.timings(),
                image_keys=keys,
                revised_prompt=output.images[0].revised_prompt,
            )
            pending = not self._store(request.request_id, records)
        finally:
            entry.release()
        clock.lap("store")
        timings = clock.timings()
        self.ledger.record_timings(request.request_id, timings)
        return GenerationResult(
            id=request.request_id,
            status="succeeded",
            user=user,
            prompt=plan.directed.user_prompt,
            directed_prompt=plan.directed.text,
            additions=plan.directed.added_keywords,
            preset=request.preset,
            model=request.model,
            size=request.size,
            quality=request.quality,
            n=request.n,
            output_format=request.output_format,
            background=request.background,
            estimated_cost_usd=float(plan.estimated_cost),
            cost_usd=float(actual),
            image_keys=keys,
            created_at=records[0]["created_at"],
            revised_prompt=output.images[0].revised_prompt,
            usage=output.usage,
            timings_ms=timings,
            warnings=plan.warnings + output.notes,
            pending_upload=pending,
            provider=self.provider.name,
        )

    def _store(self, request_id: str, records: list[dict[str, Any]]) -> bool:
        """Upload a spooled request; on failure index it as pending (shown from the spool) and say so."""
        try:
            self.library.upload_pending(request_id)
            return True
        except StorageError as exc:
            log.warning("upload of %s failed, kept in the spool for reconcile: %s", request_id, exc)
            for record in records:
                self.library.index(record, pending=True)
            return False

    def _settle_failure(self, request_id: str, exc: ImagegenError, clock: _Clock) -> None:
        clock.lap("render")
        timings = clock.timings()
        if exc.charged:
            self.ledger.record_ambiguous(request_id, error_code=exc.code, message=exc.message, timings_ms=timings)
        else:
            self.ledger.refund(request_id, error_code=exc.code, message=exc.message, timings_ms=timings)

    def result_of(self, request_id: str) -> GenerationResult:
        """The outcome of a request already made (a resubmit with the same request id)."""
        row = self.ledger.generation(request_id)
        if row is None:
            raise InvalidRequest(f"No request {request_id}.")
        if row["status"] == "reserved":
            raise InvalidRequest("This request is already being generated; its result will appear when it is done.")
        if row["status"] != "committed":
            raise _replayed_failure(row)
        keys = json.loads(row["image_keys"] or "[]")
        return GenerationResult(
            id=request_id,
            status="succeeded",
            user=row["user"],
            prompt=row["prompt"],
            directed_prompt=row["directed_prompt"],
            additions=[],
            preset=row["preset"],
            model=row["model"],
            size=row["size"],
            quality=row["quality"],
            n=row["n"],
            output_format=row["output_format"],
            background="",
            estimated_cost_usd=to_usd(row["estimated_micros"]),
            cost_usd=to_usd(row["actual_micros"]),
            image_keys=keys,
            created_at=row["created_at"],
            revised_prompt=row["revised_prompt"],
            provider=row["provider"] or "",
            warnings=["Already generated: this is the first result, not a new charge."],
        )

    # -- the gallery -----------------------------------------------------------------------------

    def history(self, filters: HistoryFilter = HistoryFilter(), page_token: str | None = None) -> HistoryPage:
        return self.library.page(filters, page_token)

    def delete_image(self, key: str, user: str) -> dict[str, Any]:
        record = self.library.record(key)
        if record["user"] != user and not self.settings.is_admin(user):
            raise Forbidden("Only the image's owner or an admin may delete it.")
        return self.library.delete(key)

    # -- after a crash ---------------------------------------------------------------------------

    def reconcile(self) -> dict[str, Any]:
        """Settle what a crashed process left: spooled images are charged and uploaded, stale reservations expire."""
        recovered, still_pending = [], []
        for request_id in self.spool.pending():
            with self.spool.claim(request_id) as entry:
                if entry is None:
                    continue  # being settled right now by the generation that wrote it
                self.ledger.commit(
                    request_id,
                    actual_micros=int(entry.data.get("actual_micros", 0)),
                    image_keys=[r["key"] for r in entry.data.get("records", [])],
                )
                if self._upload_with_retries(request_id):
                    recovered.append(request_id)
                else:
                    for record in entry.data.get("records", []):
                        self.library.index(record, pending=True)
                    still_pending.append(request_id)
        expired = self.ledger.expire_stale()
        return {"uploaded": recovered, "pending": still_pending, "expired": expired}

    def _upload_with_retries(self, request_id: str, attempts: int = 3, backoff: float = 0.5) -> bool:
        for attempt in range(attempts):
            try:
                self.library.upload_pending(request_id)
                return True
            except StorageError as exc:
                log.warning("upload of %s failed (attempt %d): %s", request_id, attempt + 1, exc)
                if attempt + 1 < attempts:
                    time.sleep(backoff * 2**attempt)
        return False


def _replayed_failure(row: dict[str, Any]) -> ImagegenError:
    code = row.get("error_code") or ""
    message = row.get("error_message") or "This request failed earlier."
    if code == "content_rejected":
        return ContentRejected(message)
    error = ImagegenError(message)
    error.code = code or "failed"
    return error


def _check_user(user: str) -> str:
    user = (user or "").strip()
    if not user:
        raise InvalidRequest("Say who is generating: a user name is required.")
    if len(user) > MAX_USER_LENGTH or any(ord(c) < 32 for c in user):
        raise InvalidRequest(f"A user name is at most {MAX_USER_LENGTH} printable characters.")
    return user


def _user_tag(user: str) -> str:
    # The provider's safety identifier: stable per user, without sending who they are.
    return hashlib.sha256(user.encode()).hexdigest()[:32]


class _Clock:
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
