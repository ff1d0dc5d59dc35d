"""The studio's face: plan and price a request, run it (the steps live in pipeline.py), the gallery,
and settling what a crashed process left."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from imagegen.accounts import Accounts, Identity
from imagegen.catalog import Catalog, ModelSpec, normalise_size
from imagegen.checks import check_request, check_user, clean_text, scoped_id
from imagegen.db import Database
from imagegen.director import DirectedPrompt, DirectorOptions, PresetBook, browser_plan, direct, load_presets
from imagegen.drafts import Drafts
from imagegen.edits import MARKUP, MASK, EditInputs, check_edit, closest_size, kept_upload, prepare_edit
from imagegen.errors import ContentRejected, Forbidden, ImagegenError, InvalidRequest, StorageError
from imagegen.history import HistoryFilter, HistoryPage, Library
from imagegen.ledger import Allowance, Ledger, to_micros, to_usd
from imagegen.money import usd
from imagegen.names import download_name
from imagegen.pipeline import Clock, Generation, Progress, finish, keep_answered
from imagegen.providers import Provider, make_provider
from imagegen.request import BACKGROUNDS, FORMATS, GenerationRequest, GenerationResult
from imagegen.settings import Settings
from imagegen.spool import Spool
from imagegen.storage import ObjectStore, make_object_store
from imagegen.uploads import Upload, check_upload

if TYPE_CHECKING:
    from imagegen.analytics import Analytics

log = logging.getLogger("imagegen")
STAGES = ("directing", "reserving", "rendering", "verifying", "saving")
__all__ = ["STAGES", "Plan", "Progress", "Studio"]


@dataclass(frozen=True)
class Plan:
    """What a request will do, worked out before anything is spent: the page's live preview."""

    request: GenerationRequest
    spec: ModelSpec
    directed: DirectedPrompt
    #: what it usually costs
    estimated_cost: Decimal
    #: the most the provider can bill for it: what is reserved
    max_cost: Decimal
    warnings: list[str] = field(default_factory=list)
    #: what an edit sends besides the prompt (None for a new image)
    edit: EditInputs | None = None

    @property
    def estimated_micros(self) -> int:
        return to_micros(self.estimated_cost)

    @property
    def reserve_micros(self) -> int:
        return to_micros(self.max_cost)


#: comparable renders needed before the page estimates how long one takes
ETA_HISTORY = 3


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
        self.db = db or Database(settings.database)
        self.ledger = Ledger(self.db, settings)
        self.accounts = Accounts(self.db, settings)
        self.drafts = Drafts(self.db)
        self.spool = Spool(settings.spool_dir)
        self.library = Library(store or make_object_store(settings), self.db, settings.s3_prefix, self.spool)

    @classmethod
    def from_env(cls) -> Studio:
        return cls(Settings.from_env())

    # -- before spending -------------------------------------------------------------------------

    def models(self, today: date | None = None) -> list[ModelSpec]:
        """The models this deployment can use, in catalog order; shut-down ones only on compatible servers."""
        today = today or self.today()
        if self.settings.provider == "offline":
            return [self.catalog.get("offline")]
        usable = [m for m in self.catalog.models() if m.family != "offline"]
        if not self.settings.openai_base_url:
            usable = [m for m in usable if m.lifecycle_on(today) != "shut_down"]
        return usable

    def resolve(self, request: GenerationRequest, edit: EditInputs | None = None) -> GenerationRequest:
        """The request with every blank filled from the model's and the preset's defaults; an edit's size
        from the shape of its starting image."""
        model = request.model or self.settings.default_model
        spec = self.catalog.get(model)
        size = request.size
        if not size and edit is not None:
            size = closest_size(spec.size_choices(), edit.first.width, edit.first.height)
        preset = self.presets.get(request.preset)
        background = request.background
        if not background:
            background = preset.background if preset.background in spec.backgrounds else ""
            if background == "transparent" and request.output_format == "jpeg":
                background = "auto"
        return replace(
            request,
            model=model,
            size=normalise_size(size or spec.default_size),
            quality=request.quality or spec.default_quality,
            background=background,
        )

    def plan(self, request: GenerationRequest, edit: EditInputs | None = None) -> Plan:
        """Validate and direct a request, and price it; with `edit`, an edit of its images (see edits.py).
        Raises InvalidRequest with what to change."""
        request, notes = check_request(request)
        if request.output_format not in FORMATS:
            raise InvalidRequest(f"Output format {request.output_format!r} is not one of {', '.join(FORMATS)}.")
        if request.background and request.background not in BACKGROUNDS:
            raise InvalidRequest(f"Background {request.background!r} is not one of {', '.join(BACKGROUNDS)}.")
        request = self.resolve(_with_inputs(request, edit), edit)
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
        if edit is not None:
            warnings += check_edit(self.catalog, self.models(), spec, request, edit)
        cost = self.catalog.estimate_cost(request, directed.text, edit.priced_sizes() if edit else [])
        bound = self.catalog.max_cost(request, directed.text, edit.priced_sizes(bound=True) if edit else [])
        return Plan(request, spec, directed, cost, bound, notes + warnings, edit)

    def browser_plan(self, request: GenerationRequest) -> dict:
        """What a browser needs to direct this request's prompt as it is typed, exactly as `plan` will:
        the Director's template and keywords for its preset and options, and its model's length limit."""
        spec = self.catalog.get(request.model or self.settings.default_model)
        lighting, camera = (clean_text(text)[0].strip() for text in (request.lighting, request.camera))
        options = DirectorOptions(raw=request.raw is True, lighting=lighting, camera=camera)
        return browser_plan(self.presets.get(request.preset), options, spec.prompt_max)

    def today(self) -> date:
        """Today in the configured time zone: the day quotas, budgets and model lifecycles are counted in."""
        return self.ledger.today()

    def allowance(self, user: str) -> Allowance:
        return self.ledger.allowance(check_user(user))

    # -- spending --------------------------------------------------------------------------------

    def generate(
        self,
        request: GenerationRequest,
        user: str,
        progress: Progress | None = None,
        edit: EditInputs | None = None,
    ) -> GenerationResult:
        """Run one request to its end (with `edit`, an edit of its images). Raises an ImagegenError saying
        what happened and whether it cost. The result's id is the request id scoped to its user: another
        user's same id is another request."""
        notify = _quiet(progress)
        user = check_user(user)
        clock = Clock()
        notify("directing", {})
        plan = self.plan(request, edit)
        clock.lap("direct")
        ledger_id = scoped_id(user, plan.request.request_id)
        return Generation(self, plan, user, ledger_id, notify, clock).run()

    def store_spooled(self, request_id: str, records: list[dict[str, Any]], *, force: bool = False) -> bool:
        """Upload a spooled request; on failure index it as pending (shown from the spool) and say so."""
        try:
            self.library.upload_pending(request_id, force=force)
            return True
        except StorageError as exc:
            log.warning("upload of %s failed, kept in the spool for reconcile: %s", request_id, exc)
            for record in records:
                self.library.index(record, pending=True)
            return False

    def result_of(self, request_id: str) -> GenerationResult:
        """The outcome of a request already made (a resubmit with the same request id), by its ledger id."""
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

    def image(self, key: str) -> dict[str, Any]:
        """An image's record, by its key. Raises NotFound."""
        return self.library.record(key)

    def image_bytes(self, record: dict[str, Any]) -> bytes:
        return self.library.original(record)

    def lineage(self, key: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """An image's ancestors (parent first) and children (oldest first) still in the gallery."""
        return self.library.lineage(key)

    def input_bytes(self, record: dict[str, Any], key: str) -> bytes:
        """One of an edit's kept inputs (starting image, reference, mask or markup)."""
        return self.library.input_bytes(record, key)

    def prepare_edit(
        self,
        images: list[bytes | Upload],
        *,
        mask: bytes | None = None,
        markup: bytes | None = None,
        parent_key: str = "",
    ) -> EditInputs:
        """Check an edit's images, mask or markup before anything is spent (see edits.py)."""
        return prepare_edit(images, mask=mask, markup=markup, parent_key=parent_key)

    def edit_of_record(self, record: dict[str, Any]) -> EditInputs | None:
        """The inputs an edited image was made from, read back from storage (to make it again, or more
        like it); None for an image made from a prompt alone."""
        images: list[Upload] = []
        overlays: dict[str, bytes] = {}
        for item in record.get("inputs") or []:
            data = self.input_bytes(record, item["key"])
            if item["role"] in (MASK, MARKUP):
                overlays[item["role"]] = data
            else:
                images.append(kept_upload(data))
        if not images:
            return None
        return EditInputs(tuple(images), overlays.get(MASK), overlays.get(MARKUP), record.get("parent_key") or "")

    def starting_image(self, key: str) -> Upload:
        """A gallery image as the starting image of an edit."""
        record = self.image(key)
        return check_upload(self.image_bytes(record), "The starting image")

    def thumbnail_bytes(self, record: dict[str, Any]) -> bytes:
        return self.library.thumbnail(record)

    def image_url(self, record: dict[str, Any], which: str = "thumb_key") -> str | None:
        """A short-lived URL the browser loads straight from storage; None when the bytes must be served."""
        return self.library.url(record, which)

    def gallery_choices(self, column: str) -> list[str]:
        return self.library.choices(column)

    def count_images(self, filters: HistoryFilter = HistoryFilter()) -> int:
        return self.library.count(filters)

    # -- who --------------------------------------------------------------------------------------

    def sign_in(self, claims: Mapping[str, Any]) -> Identity:
        """The identity an identity provider's claims prove (see accounts.py)."""
        return self.accounts.sign_in(claims)

    def is_admin(self, user: str) -> bool:
        if self.settings.auth == "local":
            return self.settings.is_admin(user)
        return self.accounts.is_admin(user)

    def may_delete(self, record: dict[str, Any], user: str) -> bool:
        return record["user"] == user or self.is_admin(user)

    def delete_image(self, key: str, user: str) -> dict[str, Any]:
        if not self.may_delete(self.library.record(key), user):
            raise Forbidden("Only the image's owner or an admin may delete it.")
        return self.library.delete(key)

    @staticmethod
    def prefill_from(record: dict[str, Any]) -> dict[str, Any]:
        """The Generate form's fields that remake an image: "use these settings"."""
        return {
            "prompt": record["prompt"],
            "preset": record["preset"],
            "model": record["model"],
            "size": record["size"],
            "quality": record["quality"],
            "output_format": record["format"],
            "raw": record.get("raw", False),
            "lighting": record.get("lighting") or "",
            "camera": record.get("camera") or "",
        }

    def mark_favourite(self, key: str, user: str, favourite: bool = True) -> None:
        self.library.mark_favourite(key, check_user(user), favourite)

    def favourites_among(self, user: str, keys: list[str]) -> set[str]:
        return self.library.favourites_among(check_user(user), keys)

    @staticmethod
    def download_name(record: Mapping[str, Any]) -> str:
        """One file name scheme wherever an image is downloaded: the prompt's first words and the image id."""
        return download_name(record)

    def remember_form(self, user: str, form: Mapping[str, Any]) -> dict[str, Any]:
        """Keep the Generate form as the user left it (known fields only); returns what was kept."""
        return self.drafts.save(user, form)

    def remembered_form(self, user: str) -> dict[str, Any]:
        return self.drafts.load(user)

    def eta_seconds(self, request: GenerationRequest) -> float | None:
        """How long a request like this one (model, quality, size, n, provider) usually takes, from the log;
        None with fewer than ETA_HISTORY such renders."""
        asked = self.resolve(request)
        return self.ledger.median_seconds(
            asked.model,
            asked.quality,
            size=asked.size,
            n=asked.n,
            provider=self.settings.provider,
            minimum=ETA_HISTORY,
        )

    # -- the admin's -----------------------------------------------------------------------------

    def analytics(self) -> Analytics:
        from imagegen.analytics import Analytics  # pandas is slow to import: only where figures are drawn

        return Analytics(self.db, self.settings)

    def set_quota(self, user: str, images: int, *, by: str) -> None:
        self.ledger.set_quota(user, images, by=by)

    def set_budget(self, usd: Decimal | float, *, by: str) -> None:
        self.ledger.set_budget(usd, by=by)

    def clear_quota(self, user: str, *, by: str) -> bool:
        return self.ledger.clear_quota(user, by=by)

    def known_users(self) -> list[str]:
        return self.ledger.known_users()

    def quota_overrides(self) -> list[dict[str, Any]]:
        """Each user's own quota, as an admin reads it: names, counts and local times."""
        return [
            {
                "User": row["user"],
                "Images a day": row["quota"],
                "Set by": row["set_by"],
                "Set at": self.local_time(row["set_at"]),
            }
            for row in self.ledger.quota_overrides()
        ]

    def limit_changes(self, limit: int = 50) -> list[dict[str, Any]]:
        """Recent changes to the limits, newest first, in dollars, images and local times."""
        return [
            {
                "When": self.local_time(row["set_at"]),
                "By": row["set_by"],
                "Limit": "Team budget" if row["kind"] == "budget" else f"Quota of {row['subject']}",
                "From": _limit_value(row["kind"], row["old_value"]),
                "To": _limit_value(row["kind"], row["new_value"]),
            }
            for row in self.ledger.limit_changes(limit)
        ]

    def local_time(self, utc_iso: str | None) -> str:
        """A stored UTC time as people read it, in the configured time zone."""
        if not utc_iso:
            return ""
        moment = datetime.fromisoformat(utc_iso)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.settings.tz).strftime("%d %b %Y %H:%M %Z")

    # -- after a crash ---------------------------------------------------------------------------

    def reconcile(self) -> dict[str, Any]:
        """Settle what a crashed process left: spooled answers are finished, charged and uploaded; stale
        reservations expire (as possibly billed when their provider call had started); stored objects of
        deleted images are removed."""
        recovered, still_pending, failed = [], [], []
        for request_id in self.spool.answered():
            try:
                keep_answered(self, request_id)
            except (ImagegenError, OSError) as exc:  # one bad entry must not stop the rest of the sweep
                log.warning("reconcile could not keep the answer to %s: %s", request_id, exc)
                failed.append(request_id)
        self.spool.clean_leftovers()
        for request_id in self.spool.pending():
            with self.spool.claim(request_id) as entry:
                if entry is None:
                    continue  # being settled right now by the generation that wrote it
                try:
                    result = finish(self, entry, _quiet(None), Clock(), force_upload=True)
                except ImagegenError as exc:
                    log.warning("reconcile could not finish %s: %s", request_id, exc.message)
                    failed.append(request_id)
                    continue
                (still_pending if result.pending_upload else recovered).append(request_id)
        expired = self.ledger.expire_stale()
        deleted = self.library.finish_deletes()
        return {
            "uploaded": recovered,
            "pending": still_pending,
            "failed": failed,
            "expired": expired,
            "deleted": deleted,
        }


def _with_inputs(request: GenerationRequest, edit: EditInputs | None) -> GenerationRequest:
    """The request naming what its edit sends, by content: the same edit asked twice is one request."""
    if edit is None:
        if request.is_edit or request.mask or request.markup:
            raise InvalidRequest("This edit's images are not here any more: open the image and edit it again.")
        return replace(request, edit_of="", input_fidelity="")
    return edit.applied_to(request)


def _limit_value(kind: str, value: int | None) -> str:
    if value is None:
        return "default"
    if kind == "budget":
        return usd(to_usd(value)) + " a day"
    return f"{value:,} image{'' if value == 1 else 's'} a day"


def _replayed_failure(row: dict[str, Any]) -> ImagegenError:
    code = row.get("error_code") or ""
    message = row.get("error_message") or "This request failed earlier."
    if code == "content_rejected":
        return ContentRejected(message)
    error = ImagegenError(message)
    error.code = code or "failed"
    return error


def _quiet(progress: Progress | None) -> Progress:
    """Progress reports that can never fail a generation: a preview that cannot be saved is not the image."""
    if progress is None:
        return lambda stage, details: None

    def notify(stage: str, details: dict[str, Any]) -> None:
        try:
            progress(stage, details)
        except Exception:
            log.warning("progress report %r failed; the generation goes on", stage, exc_info=True)

    return notify
