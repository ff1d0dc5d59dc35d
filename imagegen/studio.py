"""The studio's one face, for pages and the command line: before spending, jobs, the gallery, edits, who
is who, the admin's figures and limits, and settling after a crash. It holds the engine privately and no
rules of its own: each method asks the part of the engine whose job it is."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from imagegen import planning, runs, vector
from imagegen.accounts import Identity
from imagegen.audit import check_invariants
from imagegen.board_export import board_zip, board_zip_name
from imagegen.boards import Board, Boards, Member
from imagegen.catalog import BatchTerms, Catalog, ModelSpec
from imagegen.checks import check_user, clean_text, scoped_id
from imagegen.db import Database
from imagegen.director import DirectedPrompt, PresetBook
from imagegen.edits import MARKUP, MASK, EditInputs, kept_upload, prepare_edit
from imagegen.engine import Engine
from imagegen.errors import Forbidden, InvalidRequest
from imagegen.form import FormChoices, form_choices
from imagegen.history import HistoryFilter, HistoryPage
from imagegen.limits import Allowance
from imagegen.localtime import for_people
from imagegen.money import to_micros, to_usd, usd
from imagegen.names import counted, download_name, rendition_name
from imagegen.pipeline import Progress, generate
from imagegen.planning import Plan
from imagegen.providers import Provider
from imagegen.recovery import reconcile
from imagegen.request import GenerationRequest, GenerationResult
from imagegen.reviews import APPROVED, Decision, Reviews
from imagegen.rewriting import DESCRIBER, Rewrite, Writer, describe, make_writer, rewrite
from imagegen.runs import RunPlan, RunStatus
from imagegen.settings import Settings
from imagegen.storage import ObjectStore
from imagegen.team import WRITING_IN_QUOTA, SettingChange
from imagegen.uploads import Upload, check_upload

if TYPE_CHECKING:
    import pandas as pd

    from imagegen.analytics import Analytics, Today
    from imagegen.jobs import Job, JobRunner

STAGES = ("directing", "reserving", "rendering", "verifying", "saving")
#: the sizes a logo's PNG renditions come in, a favicon to a banner (the last one starts an edit)
RENDITION_EDGES = (16, 32, 48, 64, 128, 256, 512, 1024)
#: the longest rewriter instructions an admin may write for a preset
MAX_INSTRUCTIONS_CHARS = 4000
__all__ = ["STAGES", "DirectedPrompt", "Plan", "Progress", "Studio"]

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
        writer: Writer | None = None,
    ) -> None:
        self._engine = Engine.build(settings, catalog=catalog, presets=presets, provider=provider, db=db, store=store)
        self._writer = writer  # made at the first rewrite: no text client for commands that never write
        self._runner: JobRunner | None = None
        self._runner_lock = threading.Lock()
        self._analytics: Analytics | None = None
        self._board_parts: Boards | None = None

    @classmethod
    def from_env(cls) -> Studio:
        return cls(Settings.from_env())

    # -- before spending -------------------------------------------------------------------------

    def today(self) -> date:
        """Today in the team's time zone: the day quotas, budgets and model lifecycles are counted in."""
        return planning.team_today(self._engine)

    def models(self, today: date | None = None) -> list[ModelSpec]:
        """The models this deployment can use, in catalog order; shut-down ones only on compatible servers."""
        return planning.usable_models(self._engine, today)

    def plan(self, request: GenerationRequest, edit: EditInputs | None = None) -> Plan:
        """Validate and direct a request, and price it (see planning.py). Raises InvalidRequest with what to
        change."""
        return planning.plan(self._engine, request, edit)

    def browser_plan(self, request: GenerationRequest) -> dict:
        """What a browser needs to direct this request's prompt as it is typed, exactly as `plan` will."""
        return planning.plan_for_browser(self._engine, request)

    def allowance(self, user: str) -> Allowance:
        return self._engine.limits.allowance(check_user(user))

    def form_choices(self, model: str | None, *, editing: bool, kind: str | None = None) -> FormChoices:
        """What the Generate form offers for `model` (the default when it is not offered here), for a new
        image or an edit, of a kind of asset (a picture by default), on the team's day (see form.py)."""
        engine = self._engine
        default = engine.settings.default_model
        return form_choices(
            engine.presets,
            self.models(),
            model,
            default,
            editing=editing,
            on=self.today(),
            kind=kind,
            palette=self.palette(),
        )

    def preset_names(self) -> list[str]:
        """Every preset of the book, for every kind of asset, in its order."""
        return list(self._engine.presets.presets)

    def preset_label(self, name: str) -> str:
        """A preset's name as people read it (an older image's preset, no longer offered, as it is)."""
        return self._engine.presets.label(name)

    @property
    def offline(self) -> bool:
        """Whether this studio renders with the local placeholder renderer ($0) for want of a provider."""
        return self._engine.settings.provider == "offline"

    @property
    def default_quota(self) -> int:
        """The images a day of everyone without a quota of their own."""
        return self._engine.settings.daily_quota

    def remember_form(self, user: str, form: Mapping[str, Any]) -> dict[str, Any]:
        """Keep the Generate form as the user left it (known fields only); returns what was kept."""
        return self._engine.drafts.save(user, form)

    def remembered_form(self, user: str) -> dict[str, Any]:
        return self._engine.drafts.load(user)

    def eta_seconds(self, request: GenerationRequest) -> float | None:
        """How long a request like this one (model, quality, size, n, provider) usually takes, from the log;
        None with fewer than ETA_HISTORY such renders."""
        asked = planning.resolve(self._engine, request)
        return self._engine.ledger.median_seconds(
            asked.model,
            asked.quality,
            size=asked.size,
            n=asked.n,
            provider=self._engine.settings.provider,
            minimum=ETA_HISTORY,
        )

    # -- spending ------------------------------------------------------------------------------

    def generate(
        self,
        request: GenerationRequest,
        user: str,
        progress: Progress | None = None,
        edit: EditInputs | None = None,
    ) -> GenerationResult:
        """Run one request to its end here and now (the command line's way; pages submit a job). Raises an
        ImagegenError saying what happened and whether it cost."""
        return generate(self._engine, request, user, progress, edit)

    def request_key(self, request: GenerationRequest, user: str) -> str:
        """The id a request by this user is known by, as a job and in the ledger: its request id scoped to
        its user, so another user's same request id is another request."""
        return scoped_id(check_user(user), request.request_id)

    def is_done(self, request: GenerationRequest, user: str) -> bool:
        """Whether this request (by its id) has run to its end already: the same settings clicked again after
        that are a new, deliberate request and need a new request id; before it, the click finds its job."""
        job = self.job(self.request_key(request, user))
        return job is not None and not job.active

    def submit(self, request: GenerationRequest, user: str, edit: EditInputs | None = None) -> str:
        """Queue a generation (with `edit`, an edit) to run in the background; bad input and an exhausted
        limit are refused here, before any row. Returns its job id (`request_key`)."""
        return self._jobs().submit(request, user, edit)

    def job(self, job_id: str) -> Job | None:
        return self._jobs().job(job_id)

    def jobs_for(self, user: str, limit: int = 5) -> list[Job]:
        """The user's latest jobs, newest first."""
        return self._jobs().jobs_for(user, limit)

    def cancel(self, job_id: str, user: str) -> bool:
        """Cancel the user's job if no worker has started it (nothing is charged); False otherwise."""
        return self._jobs().cancel(job_id, user)

    def start_jobs(self) -> None:
        """Start running queued jobs in this process (a server does it once, at start-up)."""
        self._jobs()

    def settle_leftovers(self) -> dict[str, Any]:
        """What a previous process left: spooled images uploaded, its jobs settled, old previews removed."""
        outcome = self.reconcile()
        jobs = self._jobs()
        outcome["jobs"] = jobs.recover()
        jobs.prune_previews()
        return outcome

    def stop_jobs(self) -> None:
        with self._runner_lock:
            runner, self._runner = self._runner, None
        if runner is not None:
            runner.shutdown()

    def _jobs(self) -> JobRunner:
        with self._runner_lock:
            if self._runner is None:
                from imagegen.jobs import JobRunner  # threads start with it: only where jobs are run

                self._runner = JobRunner(self._engine)
            return self._runner

    # -- runs of many ----------------------------------------------------------------------------

    def plan_run(
        self,
        user: str,
        *,
        prompts: str = "",
        csv_bytes: bytes | None = None,
        presets: list[str],
        sizes: list[str],
        base: GenerationRequest | None = None,
        run_id: str | None = None,
    ) -> RunPlan:
        """Every request a run would make (each prompt, typed one per line or a CSV's first column, in each
        preset at each size), each priced, and what the user's quota and the team's budget can hold now. A
        page passes the same `run_id` (8 to 32 hex digits) until the run starts, so a second click is no
        second run."""
        lines = runs.read_prompts(prompts, csv_bytes)
        return runs.plan_run(self._engine, lines, presets, sizes, base or GenerationRequest("run"), user, run_id)

    def start_run(self, run: RunPlan, user: str, mode: str, name: str = "") -> str:
        """Start a planned run (runs.ALL_OR_NOTHING or AS_FAR_AS_IT_GOES); its results go on a new board."""
        return runs.start_run(self._engine, self._jobs(), self._boards, run, user, mode, name)

    def run_status(self, run_id: str, user: str) -> RunStatus:
        return runs.run_status(self._engine, self._boards, run_id, user)

    def cancel_run(self, run_id: str, user: str) -> int:
        """Cancel a run's queued items at $0; returns how many."""
        return runs.cancel_run(self._engine, self._jobs(), run_id, user)

    def run_modes(self) -> list[str]:
        """The ways a run can go here: all or nothing, as far as it goes, and through the provider's Batch API
        where the provider takes batches."""
        from imagegen import batching

        return [m for m in runs.MODES if m != runs.BATCH or batching.offered(self._engine)]

    def batch_terms(self) -> BatchTerms:
        """The Batch API's window and discount as the catalog records them, and whether the discount is
        confirmed for images (if not, a batch is charged the usual price)."""
        return self._engine.catalog.batch

    def advance_batches(self, run_id: str | None = None) -> int:
        """Send or read the runs' batches whose turn it is (every server's sweep does it each minute)."""
        from imagegen import batching

        return batching.advance(self._engine, run_id=run_id)

    def runs(self, user: str, limit: int = 10) -> list[RunStatus]:
        """The user's latest runs, newest first."""
        return [self.run_status(run_id, user) for run_id in runs.runs_of(self._engine, user, limit)]

    # -- the gallery -----------------------------------------------------------------------------

    def history(self, filters: HistoryFilter = HistoryFilter(), page_token: str | None = None) -> HistoryPage:
        return self._engine.library.page(filters, page_token)

    def image(self, key: str) -> dict[str, Any]:
        """An image's record, by its key. Raises NotFound."""
        return self._engine.library.record(key)

    def image_bytes(self, record: dict[str, Any]) -> bytes:
        return self._engine.library.original(record)

    def link_for(self, key: str) -> str:
        """What a link to this image carries (`?image=`): short, stable, no storage path in it."""
        return self._engine.library.link_for(key)

    def key_for_link(self, link: str) -> str:
        """The image a shared link opens (older links carried the key itself, and still work)."""
        return self._engine.library.key_for_link(link)

    def lineage(self, key: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """An image's ancestors (parent first) and children (oldest first) still in the gallery."""
        return self._engine.library.lineage(key)

    def thumbnail_bytes(self, record: dict[str, Any]) -> bytes:
        return self._engine.library.thumbnail(record)

    def image_url(self, record: dict[str, Any], which: str = "thumb_key") -> str | None:
        """A short-lived URL the browser loads straight from storage; None when the bytes must be served."""
        return self._engine.library.url(record, which)

    def gallery_choices(self, column: str) -> list[str]:
        return self._engine.library.choices(column)

    def count_images(self, filters: HistoryFilter = HistoryFilter()) -> int:
        return self._engine.library.count(filters)

    def delete_image(self, key: str, user: str) -> dict[str, Any]:
        record = self._engine.library.record(key)
        if record["user"] != user and not self.is_admin(user):
            raise Forbidden("Only the image's owner or an admin may delete it.")
        return self._engine.library.delete(key)

    def may_delete(self, record: dict[str, Any], user: str) -> bool:
        """Whether `user` may delete this image now: its owner or an admin, once no board holds it approved."""
        if record["key"] in self._boards.approved_among([record["key"]]):
            return False
        return record["user"] == user or self.is_admin(user)

    def mark_favourite(self, key: str, user: str, favourite: bool = True) -> None:
        self._engine.library.mark_favourite(key, check_user(user), favourite)

    def favourites_among(self, user: str, keys: list[str]) -> set[str]:
        return self._engine.library.favourites_among(check_user(user), keys)

    @staticmethod
    def download_name(record: Mapping[str, Any]) -> str:
        """One file name scheme wherever an image is downloaded: the prompt's first words and the image id."""
        return download_name(record)

    @staticmethod
    def rendition_name(record: Mapping[str, Any], edge: int) -> str:
        return rendition_name(record, edge)

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
            "kind": record.get("kind") or "picture",
            "team_colours": record.get("team_colours", False),
            **({"frames": record["frame_count"]} if record.get("frame_count") else {}),
            **({"frame_ms": record["frame_duration_ms"]} if record.get("frame_duration_ms") else {}),
            "raw": record.get("raw", False),
            "rewrite": (record.get("rewrite") or {}).get("key", ""),
            "lighting": record.get("lighting") or "",
            "camera": record.get("camera") or "",
        }

    # -- boards and review -----------------------------------------------------------------------

    @property
    def _boards(self) -> Boards:
        if self._board_parts is None:
            self._board_parts = Boards(self._engine.db, self.is_admin)
        return self._board_parts

    def create_board(self, name: str, user: str, *, description: str = "", visibility: str = "private") -> Board:
        return self._boards.create(name, user, description=description, visibility=visibility)

    def boards(self, user: str) -> list[Board]:
        """The boards `user` may see (each says what they may do on it), the brand kit first."""
        return self._boards.boards_for(user)

    def board(self, board_id: str, user: str) -> Board:
        """A board as `user` sees it. Raises NotFound when it is not there or is private to others."""
        return self._boards.board(board_id, user)

    def rename_board(self, board_id: str, user: str, name: str, description: str) -> Board:
        return self._boards.rename(board_id, user, name, description)

    def set_board_visibility(self, board_id: str, user: str, visibility: str) -> Board:
        return self._boards.set_visibility(board_id, user, visibility)

    def delete_board(self, board_id: str, user: str) -> None:
        """Remove a board (never its images)."""
        self._boards.delete(board_id, user)

    def set_brand_kit(self, board_id: str, user: str, brand_kit: bool = True) -> Board:
        return self._boards.set_brand_kit(board_id, user, brand_kit)

    def brand_kit(self, user: str) -> Board | None:
        board_id = self._boards.brand_kit_id()
        return self._boards.board(board_id, user) if board_id else None

    def brand_references(self, user: str) -> list[dict[str, Any]]:
        """The brand kit's approved images, in its order: offered first as an edit's references."""
        board_id = self._boards.brand_kit_id()
        if not board_id:
            return []
        return [item["record"] for item in self._boards.items(board_id, user) if item["review"] == APPROVED]

    def brand_notes(self) -> str:
        """What the brand kit tells the writing Director: its notes (the board's description) and the team's
        colours; empty without a brand kit."""
        kit = self._engine.db.query("SELECT description FROM boards WHERE brand_kit = 1")
        if not kit:
            return ""
        description = kit[0]["description"]
        colours = ", ".join(self.palette())
        return " ".join(p for p in (description, f"Its colours: {colours}." if colours else "") if p)

    def board_members(self, board_id: str, user: str) -> list[Member]:
        return self._boards.members(board_id, user)

    def set_board_member(self, board_id: str, user: str, member: str, role: str | None) -> None:
        self._boards.set_member(board_id, user, member, role)

    def set_board_reviewer(self, board_id: str, user: str, member: str, reviewer: bool = True) -> None:
        self._boards.set_reviewer(board_id, user, member, reviewer)

    def add_to_board(self, board_id: str, user: str, keys: list[str]) -> int:
        """Put gallery images on a board; returns how many were not there already."""
        return self._boards.add(board_id, user, keys)

    def remove_from_board(self, board_id: str, user: str, key: str) -> None:
        self._boards.remove(board_id, user, key)

    def move_on_board(self, board_id: str, user: str, key: str, by: int) -> None:
        self._boards.move(board_id, user, key, by)

    def reorder_board(self, board_id: str, user: str, keys: list[str]) -> None:
        self._boards.reorder(board_id, user, keys)

    def board_items(self, board_id: str, user: str, limit: int | None = None) -> list[dict[str, Any]]:
        """A board's images in order (the first `limit`): each with its gallery record, who added it and when,
        its review, and its `link` for the gallery."""
        return self._boards.items(board_id, user, limit)

    def boards_holding(self, key: str, user: str) -> list[Board]:
        return self._boards.boards_holding(key, user)

    def approved_among(self, keys: list[str]) -> set[str]:
        """Which of these images are approved on a board."""
        return self._boards.approved_among(keys)

    def board_zip(self, board_id: str, user: str) -> tuple[str, bytes]:
        """(file name, zip): the board's images under their download names and a manifest of each."""
        board = self._boards.board(board_id, user)
        items = self._boards.items(board_id, user)
        library = self._engine.library
        archive = board_zip(board, items, library.original, lambda key: library.lineage(key)[0], check_user(user))
        return board_zip_name(board), archive

    @staticmethod
    def board_zip_name(board: Board) -> str:
        return board_zip_name(board)

    def submit_for_review(self, board_id: str, user: str, key: str, comment: str = "") -> None:
        self._reviews.submit(board_id, user, key, comment)

    def approve(self, board_id: str, user: str, key: str, comment: str = "") -> None:
        self._reviews.approve(board_id, user, key, comment)

    def request_changes(self, board_id: str, user: str, key: str, comment: str) -> None:
        self._reviews.request_changes(board_id, user, key, comment)

    def withdraw_approval(self, board_id: str, user: str, key: str, comment: str = "") -> None:
        self._reviews.withdraw(board_id, user, key, comment)

    def answer_change_request(self, board_id: str, user: str, key: str, answer_key: str, comment: str = "") -> None:
        """Name an edit of `key` as the answer to the changes its reviewer asked for."""
        self._reviews.answer(board_id, user, key, answer_key, comment)

    def review_decisions(self, key: str, user: str) -> list[Decision]:
        return self._reviews.decisions(key, user)

    def board_decisions(self, board_id: str, user: str) -> list[Decision]:
        return self._reviews.board_decisions(board_id, user)

    @property
    def _reviews(self) -> Reviews:
        return Reviews(self._boards)

    # -- edits -----------------------------------------------------------------------------------

    def input_bytes(self, record: dict[str, Any], key: str) -> bytes:
        """One of an edit's kept inputs (starting image, reference, mask or markup)."""
        return self._engine.library.input_bytes(record, key)

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
        """A gallery image as the starting image of an edit: a logo drawn as a PNG (the API edits raster
        images only); an animation cannot be one, and says so before anything is spent."""
        record = self.image(key)
        if record.get("kind") == "animation":
            raise InvalidRequest(
                "An animation cannot be the starting image of an edit: the Images API edits PNG, JPEG or WebP "
                "images. Use its settings to make another, or edit a picture."
            )
        data = self.image_bytes(record)
        if record.get("kind") == "vector":
            data = self.png_rendition(record, RENDITION_EDGES[-1], data)
        return check_upload(data, "The starting image")

    def png_rendition(self, record: dict[str, Any], edge: int, svg: bytes | None = None) -> bytes:
        """A logo or icon drawn as a PNG `edge` pixels on its long side (a favicon to a banner)."""
        if record.get("kind") != "vector":
            raise InvalidRequest("Only a logo or icon (SVG) has PNG renditions.")
        if edge not in RENDITION_EDGES:
            raise InvalidRequest(f"A rendition is {', '.join(map(str, RENDITION_EDGES))} pixels, not {edge}.")
        return vector.render_png(vector.clean_svg(svg or self.image_bytes(record)), edge)

    # -- who --------------------------------------------------------------------------------------

    def sign_in(self, claims: Mapping[str, Any]) -> Identity:
        """The identity an identity provider's claims prove (see accounts.py)."""
        return self._engine.accounts.sign_in(claims)

    def local_identity(self) -> Identity:
        """Who uses a studio run with IMAGEGEN_AUTH=local: its one local user, an admin by the same rule as
        every other user (see is_admin)."""
        user = self._engine.settings.local_user
        return Identity(user, user, self.is_admin(user), f"local#{user}")

    def is_admin(self, user: str) -> bool:
        if self._engine.settings.auth == "local":
            return self._engine.settings.is_admin(user)
        return self._engine.accounts.is_admin(user)

    # -- the admin's -----------------------------------------------------------------------------

    def figures_today(self) -> Today:
        return self._figures().today()

    def spend_per_day_by_model(self, days: int = 30) -> pd.DataFrame:
        return self._figures().spend_per_day_by_model(days)

    def spend_per_user(self, days: int = 30, top: int = 10) -> pd.DataFrame:
        return self._figures().spend_per_user(days, top)

    def quota_today(self) -> pd.DataFrame:
        return self._figures().quota_today()

    def renders_per_preset(self, days: int = 30) -> pd.DataFrame:
        """Renders per preset, the presets named as the form names them."""
        frame = self._figures().renders_per_preset(days)
        return frame.assign(preset=frame["preset"].map(self._engine.presets.label))

    def render_time_per_model(self, days: int = 30) -> pd.DataFrame:
        return self._figures().render_time_per_model(days)

    def recent_generations(self, limit: int = 50) -> pd.DataFrame:
        """The latest generations, newest first, their times written as every page writes them."""
        frame = self._figures().recent(limit)
        return frame.assign(created_at=[self.local_time(moment.to_pydatetime()) for moment in frame["created_at"]])

    def usage_by_day_and_user(self, days: int = 7) -> pd.DataFrame:
        return self._figures().usage_by_day_and_user(days)

    def export_csv(self, since: date, until: date) -> str:
        return self._figures().export_csv(since, until)

    def _figures(self) -> Analytics:
        if self._analytics is None:
            from imagegen.analytics import Analytics  # pandas is slow to import: only where figures are drawn

            self._analytics = Analytics(self._engine.db, self._engine.settings)
        return self._analytics

    def set_quota(self, user: str, images: int, *, by: str) -> None:
        self._engine.limits.set_quota(user, images, by=by)

    def set_budget(self, usd: Decimal | float, *, by: str) -> None:
        self._engine.limits.set_budget(usd, by=by)

    def clear_quota(self, user: str, *, by: str) -> bool:
        return self._engine.limits.clear_quota(user, by=by)

    def palette(self) -> tuple[str, ...]:
        """The team's colours (#rrggbb), which a request can ask the Director for; empty when none are set."""
        return self._engine.team.palette()

    def set_palette(self, colours: str, *, by: str) -> tuple[str, ...]:
        """Set the team's colours from what an admin typed ("#1d3557, #e63946"); nothing clears them."""
        return self._engine.team.set_palette(colours, by=check_user(by))

    def palette_history(self) -> list[SettingChange]:
        return self._engine.team.history()

    # -- the writing Director ---------------------------------------------------------------------

    def rewrite(
        self,
        text: str,
        preset: str,
        user: str,
        *,
        model: str | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Rewrite:
        """The prompt written up under the preset's instructions, metered against the team budget and kept
        for the team: the same words, preset and instructions give the kept rewrite with no new call.
        `on_text` is given the prompt so far while it is written. The writer is OpenAI's Responses API with
        OpenAI as the provider, the offline rules ($0) otherwise."""
        engine = self._engine
        spec = engine.catalog.get(model or engine.settings.default_model)
        house_style = self.rewriter_instructions(preset)
        return rewrite(
            engine, self._the_writer(), text, preset, check_user(user), limit=spec.prompt_max,
            house_style=house_style, brand=self.brand_notes(), in_quota=engine.team.writing_in_quota(),
            on_text=on_text,
        )  # fmt: skip

    def describe(
        self,
        picture: bytes,
        user: str,
        *,
        model: str | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Rewrite:
        """The prompt that would make `picture` (an image's bytes as stored, or an upload's), to start a new
        image from or to guide an edit; metered and kept like a rewrite (the same image is described once)."""
        engine = self._engine
        spec = engine.catalog.get(model or engine.settings.default_model)
        return describe(
            engine, self._the_writer(), picture, check_user(user), limit=spec.prompt_max,
            house_style=engine.team.value(DESCRIBER), in_quota=engine.team.writing_in_quota(), on_text=on_text,
        )  # fmt: skip

    def _the_writer(self) -> Writer:
        if self._writer is None:
            self._writer = make_writer(self._engine.settings)
        return self._writer

    def writing_in_quota(self) -> bool:
        """Whether rewrites and descriptions take one of a user's images for the day (by default not)."""
        return self._engine.team.writing_in_quota()

    def set_writing_in_quota(self, counted: bool, *, by: str) -> None:
        self._engine.team.set_writing_in_quota(bool(counted), by=check_user(by))

    def writing_in_quota_history(self) -> list[SettingChange]:
        return self._engine.team.history(WRITING_IN_QUOTA)

    def rewriter_instructions(self, preset: str) -> str:
        """What an admin wrote for the preset's rewrites (house style, palette, words to avoid); for
        DESCRIBER, what the describer is told besides its rules."""
        return self._engine.team.value(self._instructions_name(preset))

    def rewriter_history(self, preset: str) -> list[SettingChange]:
        """Each change of a preset's rewriter instructions (or the describer's): who, when, before, after."""
        return self._engine.team.history(self._instructions_name(preset))

    def set_rewriter_instructions(self, preset: str, text: str, *, by: str) -> int:
        """Change a preset's rewriter instructions (or the describer's, for DESCRIBER); returns their new
        version (the next rewrite uses them)."""
        name = self._instructions_name(preset)
        cleaned = clean_text(text)[0].strip()
        if len(cleaned) > MAX_INSTRUCTIONS_CHARS:
            raise InvalidRequest(
                f"Instructions are at most {MAX_INSTRUCTIONS_CHARS:,} characters, not {len(cleaned):,}."
            )
        self._engine.team.set_value(name, cleaned, by=check_user(by))
        return self._engine.team.version(name)

    def _instructions_name(self, preset: str) -> str:
        return DESCRIBER if preset == DESCRIBER else f"rewriter:{self._engine.presets.get(preset).name}"

    def known_users(self) -> list[str]:
        return self._engine.limits.known_users()

    def quota_overrides(self) -> list[dict[str, Any]]:
        """Each user's own quota, as an admin reads it: names, counts and local times."""
        return [
            {
                "User": row["user"],
                "Images a day": row["quota"],
                "Set by": row["set_by"],
                "Set at": self.local_time(row["set_at"]),
            }
            for row in self._engine.limits.quota_overrides()
        ]

    def limit_changes(self, limit: int = 50) -> list[dict[str, Any]]:
        """Recent changes to the limits, newest first, in dollars, images and local times."""
        return [
            {
                "When": self.local_time(row["set_at"]),
                "By": row["set_by"],
                "Limit": "Team budget" if row["kind"] == "budget" else f"Quota of {row['subject']}",
                "From": self._limit_value(row["kind"], row["old_value"]),
                "To": self._limit_value(row["kind"], row["new_value"]),
            }
            for row in self._engine.limits.limit_changes(limit)
        ]

    def _limit_value(self, kind: str, value: int | None) -> str:
        """A limit as an admin reads it; the default says what it is."""
        if value is not None:
            return _per_day(kind, value)
        settings = self._engine.settings
        default = to_micros(settings.daily_budget_usd) if kind == "budget" else settings.daily_quota
        return f"default ({_per_day(kind, default)})"

    def local_time(self, stored: str | None) -> str:
        """A stored time as people read it, in the team's time zone: one format on every page."""
        return for_people(stored, self._engine.settings.tz)

    def check_invariants(self) -> list[str]:
        """Every way the ledger's counters and log disagree or a limit was overshot; empty when sound."""
        return check_invariants(self._engine.db)

    def reindex(self) -> tuple[int, str]:
        """Rebuild the gallery's index from storage alone: (images indexed, the storage's name)."""
        library = self._engine.library
        return library.reindex(), library.store.name

    # -- after a crash ---------------------------------------------------------------------------

    def reconcile(self) -> dict[str, Any]:
        """Settle what a crashed process left (see recovery.py)."""
        return reconcile(self._engine)


def _per_day(kind: str, value: int) -> str:
    if kind == "budget":
        return usd(to_usd(value)) + " a day"
    return f"{counted(value, 'image')} a day"
