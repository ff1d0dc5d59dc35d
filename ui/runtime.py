"""The engine, created once per server process and shared by every session."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict

import streamlit as st

from imagegen import JobRunner, Settings, SettingsError, Studio

log = logging.getLogger("imagegen.ui")


def settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        st.error(f"The studio is misconfigured: {exc.message}", icon=None)
        st.stop()
        raise


def _fingerprint(current: Settings) -> str:
    return json.dumps(asdict(current), default=str, sort_keys=True)


@st.cache_resource(show_spinner="Starting the studio...")
def _engine(fingerprint: str) -> tuple[Studio, JobRunner]:
    studio = Studio(Settings.from_env())
    runner = JobRunner(studio)
    # What a previous process left behind (spooled images to upload, jobs to settle) is settled beside
    # the first page, not before it: uploads to a slow or absent S3 can take a while.
    threading.Thread(target=_settle_leftovers, args=(studio, runner), daemon=True, name="imagegen-startup").start()
    return studio, runner


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
