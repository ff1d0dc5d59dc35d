"""The engine, created once per server process and shared by every session."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict

from imagegen import JobRunner, Settings, Studio

log = logging.getLogger("imagegen.ui")


def settings() -> Settings:
    """This process's settings. Raises SettingsError (app.py shows it alone) when they are wrong."""
    return Settings.from_env()


def _fingerprint(current: Settings) -> str:
    return json.dumps(asdict(current), default=str, sort_keys=True)


_ENGINES: dict[str, tuple[Studio, JobRunner]] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(fingerprint: str) -> tuple[Studio, JobRunner]:
    """One engine per process (and per configuration), made by `start()` when the server starts or by the
    first page otherwise. A plain module global, not st.cache_resource: it must exist before any session."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get(fingerprint)
        if engine is None:
            studio = Studio(Settings.from_env())
            runner = JobRunner(studio)
            # What a previous process left behind (spooled images to upload, jobs to settle) is settled
            # beside the first page, not before it: uploads to a slow or absent S3 can take a while.
            threading.Thread(
                target=_settle_leftovers, args=(studio, runner), daemon=True, name="imagegen-startup"
            ).start()
            engine = _ENGINES[fingerprint] = (studio, runner)
        return engine


def start() -> tuple[Studio, JobRunner]:
    """Start the engine now, with the server: recovery and the minute sweep run before anyone opens a page."""
    return _engine(_fingerprint(Settings.from_env()))


def _settle_leftovers(studio: Studio, runner: JobRunner) -> None:
    try:
        outcome = studio.reconcile()
        recovered = runner.recover()
        runner.prune_previews()
        log.info("start-up reconcile: %s; jobs: %s", outcome, recovered)
    except Exception:
        log.exception("start-up reconcile failed; the runner sweeps again every minute")


def studio() -> Studio:
    return _engine(_fingerprint(settings()))[0]


def runner() -> JobRunner:
    return _engine(_fingerprint(settings()))[1]
