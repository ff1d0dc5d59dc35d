"""The engine, created once per server process and shared by every session."""

from __future__ import annotations

import functools
import json
import logging
import threading
from dataclasses import asdict

from imagegen import JobRunner, Settings, Studio, text_tables

log = logging.getLogger("imagegen.ui")


def settings() -> Settings:
    """This process's settings, read from the environment once. Raises SettingsError (app.py shows it alone)
    when they are wrong; a wrong environment is read again on the next page, since it stops everything."""
    return _read()[0]


@functools.cache
def _read() -> tuple[Settings, str]:
    current = Settings.from_env()
    return current, json.dumps(asdict(current), default=str, sort_keys=True)


def reread_settings() -> None:
    """Forget the settings read, so the next page reads the environment again (tests change it)."""
    _read.cache_clear()


_ENGINES: dict[str, tuple[Studio, JobRunner]] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(fingerprint: str) -> tuple[Studio, JobRunner]:
    """One engine per process (and per configuration), made by `start()` when the server starts or by the
    first page otherwise. A plain module global, not st.cache_resource: it must exist before any session."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get(fingerprint)
        if engine is None:
            studio = Studio(settings())
            runner = JobRunner(studio)
            # What a previous process left behind (spooled images to upload, jobs to settle) is settled
            # beside the first page, not before it: uploads to a slow or absent S3 can take a while.
            threading.Thread(
                target=_settle_leftovers, args=(studio, runner), daemon=True, name="imagegen-startup"
            ).start()
            engine = _ENGINES[fingerprint] = (studio, runner)
        return engine


def start() -> tuple[Studio, JobRunner]:
    """Start the engine now, with the server: recovery and the minute sweep run before anyone opens a page,
    and the character tables the Generate page's preview carries (half a second) are made before it opens."""
    threading.Thread(target=text_tables, daemon=True, name="imagegen-text-tables").start()
    return _engine(_read()[1])


def _settle_leftovers(studio: Studio, runner: JobRunner) -> None:
    try:
        outcome = studio.reconcile()
        recovered = runner.recover()
        runner.prune_previews()
        log.info("start-up reconcile: %s; jobs: %s", outcome, recovered)
    except Exception:
        log.exception("start-up reconcile failed; the runner sweeps again every minute")


def studio() -> Studio:
    return _engine(_read()[1])[0]


def runner() -> JobRunner:
    return _engine(_read()[1])[1]
