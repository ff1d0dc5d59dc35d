"""The engine, created once per server process and shared by every session."""

from __future__ import annotations

import functools
import json
import logging
import threading
from dataclasses import asdict

from imagegen import Settings, Studio, text_tables

log = logging.getLogger("imagegen.ui")


def settings() -> Settings:
    """This process's settings, read from the environment once. Raises SettingsError (app.py shows it alone)
    when they are wrong; a wrong environment is read again on the next page, since it stops everything."""
    return _read()[0]


@functools.cache
def _read() -> tuple[Settings, str]:
    current = Settings.from_env()
    return current, json.dumps(asdict(current), default=str, sort_keys=True)


_STUDIOS: dict[str, Studio] = {}
_STUDIOS_LOCK = threading.Lock()


def _studio(fingerprint: str) -> Studio:
    """One engine per process (and per configuration), made by `start()` when the server starts or by the
    first page otherwise. A plain module global, not st.cache_resource: it must exist before any session."""
    with _STUDIOS_LOCK:
        studio = _STUDIOS.get(fingerprint)
        if studio is None:
            studio = Studio(settings())
            studio.start_jobs()
            # What a previous process left behind (spooled images to upload, jobs to settle) is settled
            # beside the first page, not before it: uploads to a slow or absent S3 can take a while.
            threading.Thread(target=_settle_leftovers, args=(studio,), daemon=True, name="imagegen-startup").start()
            _STUDIOS[fingerprint] = studio
        return studio


def start() -> Studio:
    """Start the engine now, with the server: recovery and the minute sweep run before anyone opens a page,
    and the character tables the Generate page's preview carries (half a second) are made before it opens."""
    threading.Thread(target=text_tables, daemon=True, name="imagegen-text-tables").start()
    return _studio(_read()[1])


def _settle_leftovers(studio: Studio) -> None:
    try:
        log.info("start-up reconcile: %s", studio.settle_leftovers())
    except Exception:
        log.exception("start-up reconcile failed; the runner sweeps again every minute")


def studio() -> Studio:
    return _studio(_read()[1])
