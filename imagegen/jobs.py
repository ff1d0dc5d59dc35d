"""Generations run in the background, outside any page's script run, with their state in the database.

A page submits a request and polls its job; a rerun, a click elsewhere or a closed tab does not stop
it. A job's id is its request id scoped to its user (checks.scoped_id), so a double click or a resubmitted
form finds the job it already made; it is also the request's id in the ledger, which is how recovery
settles the job of a process that died from what the ledger says of it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagegen.checks import check_user, scoped_id
from imagegen.db import Row
from imagegen.edits import EditInputs
from imagegen.engine import Engine
from imagegen.errors import ImagegenError, InvalidRequest
from imagegen.pipeline import generate, result_of
from imagegen.planning import plan
from imagegen.recovery import reconcile
from imagegen.request import RUN_PREFIX, GenerationRequest

log = logging.getLogger("imagegen.jobs")
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
#: a provider's retry within a stage: recorded in the job's stages without changing the stage
RETRYING = "retrying"
HEARTBEAT_SECONDS = 5.0
#: how often a process looks for jobs queued by another (its own wake it at once); idle, it backs off
POLL_SECONDS, IDLE_POLL_SECONDS = 0.5, 2.0
#: the longest waits between heartbeats and between sweeps; a short stale window (settings) shortens both
SWEEP_SECONDS = 60.0


@dataclass
class Job:
    id: str
    user: str
    status: str
    stage: str
    stages: list[dict[str, Any]]
    request: GenerationRequest
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    error_code: str | None = None
    charged: bool | None = None
    partials: int = 0
    preview_dir: Path | None = None

    @property
    def active(self) -> bool:
        return self.status in (QUEUED, RUNNING)

    def elapsed(self, now: float | None = None) -> float:
        end = self.finished_at or (now or time.time())
        return max(0.0, end - (self.started_at or self.created_at))

    def retry_note(self, now: float | None = None) -> str | None:
        """What the provider's retries mean for the wait, while the latest stage is the one retried."""
        last = self.stages[-1] if self.stages else None
        if last is None or last.get("stage") != RETRYING or not self.active:
            return None
        attempt = f"attempt {last['attempt']} of {last['attempts']}"
        waits = last["at"] + last["wait_s"] - (now or time.time())
        if waits >= 1:
            return f"Retrying: {last['reason']}. Asking again in {waits:.0f}s ({attempt}); nothing was charged for it."
        return f"Retrying: {last['reason']}. Asked again ({attempt}); nothing was charged for it."

    def latest_partial(self) -> Path | None:
        if not self.partials or self.preview_dir is None:
            return None
        path = self.preview_dir / f"partial-{self.partials - 1}.img"
        return path if path.exists() else None


class JobRunner:
    def __init__(self, engine: Engine, workers: int | None = None) -> None:
        self.engine = engine
        self.db = engine.db
        self.workers = workers or engine.settings.workers
        self.stale_after = engine.settings.job_stale_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        #: where this process keeps a queued edit's inputs: another process with the same disk can run it
        self.disk = f"{socket.gethostname()}:{engine.settings.data_dir.resolve()}"
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="imagegen-job")
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        # Two threads: the heartbeat only writes to the database and never waits on storage, so a hung S3
        # in the sweep cannot make this process look dead to another server sharing the data.
        self._beat = threading.Thread(target=self._heartbeat, daemon=True, name="imagegen-heartbeat")
        self._beat.start()
        self._sweeper = threading.Thread(target=self._sweep_forever, daemon=True, name="imagegen-sweep")
        self._sweeper.start()
        self._puller = threading.Thread(target=self._pull_forever, daemon=True, name="imagegen-pull")
        self._puller.start()
        self._wake.set()

    # -- submitting ------------------------------------------------------------------------------

    def submit(
        self, request: GenerationRequest, user: str, edit: EditInputs | None = None, *, check_limits: bool = True
    ) -> str:
        """Queue a generation (with `edit`, an edit); bad input and an exhausted limit are refused here,
        before any row (a run's items skip the limits: reserved with their run, or admitted as far as they
        go when they run). The job id is the request id scoped to its user, so a resubmit finds its job and
        another user's never does. An edit's inputs wait on disk beside the job until it has run."""
        user = check_user(user)
        planned = plan(self.engine, request, edit)
        refusal = self.engine.limits.allowance(user).refusal(planned.request.n, planned.reserve_micros)
        if refusal is not None and check_limits:
            raise refusal
        job_id = scoped_id(user, planned.request.request_id)
        fresh_inputs = edit is not None and not self.inputs_dir(job_id).exists()
        if fresh_inputs:
            edit.save(self.inputs_dir(job_id))  # before the row: a worker may take the job at once
        with self.db.write() as conn:
            created = conn.execute(
                'INSERT INTO jobs (id, "user", status, stage, request, created_at, owner, heartbeat_at, pinned_to) '
                "VALUES (:id, :user, :status, 'queued', :request, :now, :owner, :now, :pinned) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                {
                    "id": job_id,
                    "user": user,
                    "status": QUEUED,
                    "request": json.dumps(planned.request.to_dict()),
                    "now": time.time(),
                    "owner": self.owner,
                    "pinned": self.disk if edit is not None else None,
                },
            ).fetchone()
        if created is None and fresh_inputs:
            shutil.rmtree(self.inputs_dir(job_id), ignore_errors=True)  # a resubmit: the first one's job stands
        self._wake.set()
        return job_id

    def inputs_dir(self, job_id: str) -> Path:
        return self.engine.settings.data_dir / "job-inputs" / job_id

    @staticmethod
    def job_id_for(request: GenerationRequest, user: str) -> str:
        """The id `submit` gives this request by this user."""
        return scoped_id(check_user(user), request.request_id)

    # -- running ---------------------------------------------------------------------------------

    def _pull_forever(self) -> None:
        failing, wait = False, POLL_SECONDS
        while not self._stop.is_set():
            woken = self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                taken = self.pull()
                failing = False
                # Idle, it looks less and less often (up to IDLE_POLL_SECONDS); any job or wake-up resets it.
                wait = POLL_SECONDS if taken or woken else min(wait * 2, IDLE_POLL_SECONDS)
            except Exception:
                if not failing:  # once per outage, not twice a second
                    log.exception("taking queued jobs failed; trying again every %.1f s", wait)
                failing = True

    def pull(self) -> list[str]:
        """Take queued jobs, oldest first, while this process has a free worker: the queue is shared by every
        process on the database, and each job is taken by exactly one of them."""
        taken: list[str] = []
        while True:
            with self._lock:
                if len(self._running) >= self.workers or self._stop.is_set():
                    return taken
            job_id = self._claim_next()
            if job_id is None:
                return taken
            with self._lock:
                self._running.add(job_id)
            self.pool.submit(self._run, job_id)
            taken.append(job_id)

    def _claim_next(self) -> str | None:
        """Make the oldest queued job this process's, unless another took it first. An edit whose inputs
        wait on one server's disk is taken only there."""
        waiting = self.db.query(
            "SELECT 1 FROM jobs WHERE status = :queued AND (pinned_to IS NULL OR pinned_to = :disk) LIMIT 1",
            {"queued": QUEUED, "disk": self.disk},
        )
        if not waiting:  # the usual answer while idle: a read, not a write lock twice a second
            return None
        with self.db.write() as conn:
            row = conn.execute(
                "UPDATE jobs SET status = :running, started_at = :now, owner = :me, heartbeat_at = :now "
                "WHERE status = :queued AND id = (SELECT id FROM jobs WHERE status = :queued "
                "AND (pinned_to IS NULL OR pinned_to = :disk) ORDER BY created_at, id LIMIT 1"
                + conn.dialect.lock_rows_skipping
                + ") RETURNING id",
                {"running": RUNNING, "queued": QUEUED, "now": time.time(), "me": self.owner, "disk": self.disk},
            ).fetchone()
        return row[0] if row else None

    def _run(self, job_id: str) -> None:
        try:
            job = self.job(job_id)
            if job is None:
                return
            progress = _Progress(self, job_id)
            try:
                result = generate(self.engine, job.request, job.user, progress, self._edit_of(job))
            except ImagegenError as exc:
                self._finish(job_id, FAILED, error=exc.message, error_code=exc.code, charged=exc.charged)
            except Exception as exc:
                log.exception("job %s failed", job_id)
                self._finish(
                    job_id,
                    FAILED,
                    error=f"Something went wrong ({type(exc).__name__}). An admin can see the log.",
                    error_code="internal",
                    charged=None,
                )
            else:
                self._finish(
                    job_id, SUCCEEDED, result=json.dumps(result.to_dict(), default=str), charged=result.cost_usd > 0
                )
                if job.request.request_id.startswith(RUN_PREFIX):
                    self._collect(job_id)
        finally:
            with self._lock:
                self._running.discard(job_id)
            self._wake.set()  # a worker is free: take the next queued job

    def _collect(self, job_id: str) -> None:
        """A run's item is done: its images go on the run's board now (the run's page does it too, later)."""
        from imagegen.runs import on_job_finished

        try:
            on_job_finished(self.engine, job_id, lambda _user: False)
        except Exception:
            log.exception("putting the images of %s on its run's board failed; the run's page will", job_id)

    def _edit_of(self, job: Job) -> EditInputs | None:
        if not job.request.is_edit:
            return None
        try:
            return EditInputs.load(self.inputs_dir(job.id))
        except (OSError, ValueError, KeyError) as exc:
            failure = InvalidRequest("This edit's images were lost before it ran; you were not charged. Edit again.")
            raise failure from exc

    def cancel(self, job_id: str, user: str) -> bool:
        """Cancel the user's job if no worker has started it: nothing was reserved, so nothing is charged.
        A started job runs to its end: the provider may already be rendering, and billing, it."""
        with self.db.write() as conn:
            cancelled = conn.execute(
                "UPDATE jobs SET status = :cancelled, stage = :cancelled, finished_at = :now "
                'WHERE id = :id AND "user" = :user AND status = :queued RETURNING id',
                {"cancelled": CANCELLED, "now": time.time(), "id": job_id, "user": user, "queued": QUEUED},
            ).fetchone()
        if cancelled is not None:
            shutil.rmtree(self.inputs_dir(job_id), ignore_errors=True)
        return cancelled is not None

    def _finish(self, job_id: str, status: str, **fields: Any) -> None:
        shutil.rmtree(self.inputs_dir(job_id), ignore_errors=True)  # an ended edit's inputs are kept in storage
        self._update(
            job_id, status=status, stage="done" if status == SUCCEEDED else "failed", finished_at=time.time(), **fields
        )

    def _update(self, job_id: str, **fields: Any) -> None:
        fields["heartbeat_at"] = time.time()
        if "charged" in fields and fields["charged"] is not None:
            fields["charged"] = int(fields["charged"])
        columns = ", ".join(f"{name} = :{name}" for name in fields)
        with self.db.write() as conn:
            conn.execute(f"UPDATE jobs SET {columns} WHERE id = :job_id", {**fields, "job_id": job_id})  # noqa: S608

    def record_stage(self, job_id: str, stage: str, details: dict[str, Any]) -> None:
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT stage, stages FROM jobs WHERE id = :id" + conn.dialect.lock_row, {"id": job_id}
            ).fetchone()
            if row is None:
                return
            stages = [*json.loads(row["stages"]), {"stage": stage, "at": time.time(), **details}]
            current = row["stage"] if stage == RETRYING else stage
            conn.execute(
                "UPDATE jobs SET stage = :stage, stages = :stages, heartbeat_at = :now WHERE id = :id",
                {"stage": current, "stages": json.dumps(stages), "now": time.time(), "id": job_id},
            )

    def record_partial(self, job_id: str, index: int, image: bytes) -> None:
        folder = self.preview_dir(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"partial-{index}.img").write_bytes(image)
        with self.db.write() as conn:
            conn.execute(
                "UPDATE jobs SET partials = :partials, heartbeat_at = :now WHERE id = :id",
                {"partials": index + 1, "now": time.time(), "id": job_id},
            )

    def preview_dir(self, job_id: str) -> Path:
        return self.engine.settings.previews_dir / job_id

    def _heartbeat(self) -> None:
        while not self._stop.wait(min(HEARTBEAT_SECONDS, self.stale_after / 6)):
            self.beat()

    def beat(self) -> None:
        """Mark this process's jobs alive: one database write, nothing else."""
        with self._lock:
            running = list(self._running)
        if running:
            try:
                with self.db.write() as conn:
                    conn.executemany(
                        "UPDATE jobs SET heartbeat_at = :now WHERE id = :id",
                        [{"now": time.time(), "id": j} for j in sorted(running)],
                    )
            except ImagegenError:
                log.warning("job heartbeat could not be written")

    def _sweep_forever(self) -> None:
        while not self._stop.wait(min(SWEEP_SECONDS, self.stale_after / 2)):
            try:
                self.sweep()
            except Exception:
                log.exception("periodic sweep failed")

    def sweep(self) -> None:
        """What runs every minute: settle the jobs of a process that died after this one started, upload
        images kept while storage was down, expire reservations nobody settled, forget the inputs of edits
        that ended (or were cancelled) anywhere."""
        self.recover()
        reconcile(self.engine)
        self.prune_inputs()
        from imagegen import batching

        batching.advance(self.engine)  # runs sent through the Batch API: sent, polled, settled

    def prune_inputs(self) -> None:
        root = self.engine.settings.data_dir / "job-inputs"
        if not root.exists():
            return
        for folder in root.iterdir():
            job = self.job(folder.name)
            # Inputs are written just before their job's row: a folder without one is left a while.
            orphaned = job is None and folder.stat().st_mtime < time.time() - self.stale_after
            if orphaned or (job is not None and not job.active):
                shutil.rmtree(folder, ignore_errors=True)

    # -- reading ---------------------------------------------------------------------------------

    def job(self, job_id: str) -> Job | None:
        rows = self.db.query("SELECT * FROM jobs WHERE id = :id", {"id": job_id})
        return self._job(rows[0]) if rows else None

    def jobs_for(self, user: str, limit: int = 5) -> list[Job]:
        """The user's latest jobs of their own: a run's items are shown by its run, not one by one."""
        rows = self.db.query(
            'SELECT * FROM jobs WHERE "user" = :user '
            "AND NOT EXISTS (SELECT 1 FROM run_items r WHERE r.job_id = jobs.id) ORDER BY created_at DESC LIMIT :limit",
            {"user": user, "limit": limit},
        )
        return [self._job(r) for r in rows]

    def _job(self, row: Any) -> Job:
        return Job(
            id=row["id"],
            user=row["user"],
            status=row["status"],
            stage=row["stage"],
            stages=json.loads(row["stages"]),
            request=GenerationRequest.from_dict(json.loads(row["request"])),
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            result=json.loads(row["result"]) if row["result"] else None,
            error=row["error"],
            error_code=row["error_code"],
            charged=None if row["charged"] is None else bool(row["charged"]),
            partials=row["partials"],
            preview_dir=self.preview_dir(row["id"]),
        )

    # -- after a crash ---------------------------------------------------------------------------

    def recover(self, stale_after: float | None = None) -> dict[str, list[str]]:
        """Settle the jobs a dead process was running: one it had not yet reserved goes back to the queue;
        the others are settled from the ledger and the spool (a paid image is kept and shown; an unfinished
        render is recorded as possibly billed). Queued jobs need nothing: every live process takes them."""
        cutoff = time.time() - (self.stale_after if stale_after is None else stale_after)
        rows = self._take_stale(cutoff)
        if not rows:
            return {"requeued": [], "succeeded": [], "failed": []}
        reconcile(self.engine)
        outcome: dict[str, list[str]] = {"requeued": [], "succeeded": [], "failed": []}
        for row in rows:
            job_id = row["id"]
            generation = self.engine.ledger.generation(job_id)
            if generation is None:
                self._update(job_id, status=QUEUED, stage="queued", owner=None, started_at=None)
                self._wake.set()
                outcome["requeued"].append(job_id)
            elif generation is not None and generation["status"] == "committed":
                result = result_of(self.engine, job_id)
                self._finish(
                    job_id, SUCCEEDED, result=json.dumps(result.to_dict(), default=str), charged=result.cost_usd > 0
                )
                outcome["succeeded"].append(job_id)
            else:
                charged = self._settle_interrupted(job_id, generation)
                message = "The server restarted while this image was rendering." + (
                    " The provider may have billed it; check the gallery before retrying."
                    if charged
                    else " You were not charged."
                )
                self._finish(job_id, FAILED, error=message, error_code="interrupted", charged=charged)
                outcome["failed"].append(job_id)
        return outcome

    def _take_stale(self, cutoff: float) -> list[Row]:
        """Make this process the owner of every job whose owner stopped beating before `cutoff`. Each is
        taken by one conditional update, so when several replicas sweep at once each job has one new owner."""
        with self.db.write() as conn:
            return conn.execute(
                "UPDATE jobs SET owner = :me, heartbeat_at = :now WHERE id IN (SELECT id FROM jobs "
                "WHERE status = :running AND owner != :me AND heartbeat_at < :cutoff"
                + conn.dialect.lock_rows_skipping
                + ") RETURNING id, status",
                {"me": self.owner, "now": time.time(), "running": RUNNING, "cutoff": cutoff},
            ).fetchall()

    def _settle_interrupted(self, job_id: str, generation: dict[str, Any] | None) -> bool:
        """Settle the reservation of a job whose process died; True when it may have been billed."""
        if generation is None:
            return False
        if generation["status"] == "reserved":
            message = "The server restarted while this image was rendering."
            if not generation.get("sent_at"):
                self.engine.ledger.refund(job_id, error_code="interrupted", message=message)
                return False
            self.engine.ledger.record_ambiguous(job_id, error_code="interrupted", message=message)
            return generation["estimated_micros"] > 0
        return generation["status"] == "ambiguous" and (generation.get("actual_micros") or 0) > 0

    def prune_previews(self, older_than: float = 86_400) -> None:
        root = self.engine.settings.previews_dir
        if not root.exists():
            return
        cutoff = time.time() - older_than
        for folder in root.iterdir():
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)

    def shutdown(self) -> None:
        self._stop.set()
        self._wake.set()
        self.pool.shutdown(wait=True)


class _Progress:
    def __init__(self, runner: JobRunner, job_id: str) -> None:
        self.runner = runner
        self.job_id = job_id

    def __call__(self, stage: str, details: dict[str, Any]) -> None:
        # May raise: the studio reports progress through a guard, so a failed report never fails a render.
        if stage == "partial":
            self.runner.record_partial(self.job_id, details["index"], details["image"])
        else:
            self.runner.record_stage(
                self.job_id, stage, {k: v for k, v in details.items() if isinstance(v, str | int | float)}
            )
