"""Reading the engine's parts the way only tests need: what the face never offers a page."""

from __future__ import annotations

import json
import time
from typing import Any

from imagegen import Studio
from imagegen.db import Database
from imagegen.jobs import Job, JobRunner
from imagegen.ledger import OPEN


def open_reservations(db: Database) -> list[dict[str, Any]]:
    """The generations still reserved: none may be left once every worker has settled."""
    return [dict(r) for r in db.query("SELECT * FROM generations WHERE status = :open", {"open": OPEN})]


def applied_migrations(db: Database) -> set[str]:
    return {row[0] for row in db.query("SELECT name FROM _migrations")}


def records_for_request(db: Database, request_id: str) -> list[dict[str, Any]]:
    """The gallery records of one request's images, in key order."""
    rows = db.query("SELECT record FROM images WHERE request_id = :request_id ORDER BY key", {"request_id": request_id})
    return [json.loads(r["record"]) for r in rows]


def wait_for(runner: JobRunner | Studio, job_id: str, timeout: float = 60.0) -> Job:
    """The job once it has ended; its end is what the test waits for, within a generous bound."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = runner.job(job_id)
        if job is not None and not job.active:
            return job
        time.sleep(0.02)
    raise TimeoutError(f"job {job_id} still running after {timeout}s")
