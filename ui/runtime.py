"""The engine, created once per server process and shared by every session."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict

import streamlit as st

from imagegen import JobRunner, Settings, SettingsError, Studio

log = logging.getLogger("imagegen.ui")


def settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        st.error(f"The studio is misconfigured: {exc.message}")
        st.stop()
        raise


def _fingerprint(current: Settings) -> str:
    return json.dumps(asdict(current), default=str, sort_keys=True)


@st.cache_resource(show_spinner="Starting the studio...")
def _engine(fingerprint: str) -> tuple[Studio, JobRunner]:
    studio = Studio(Settings.from_env())
    runner = JobRunner(studio)
    # What a previous process left behind: spooled images to upload, jobs to settle.
    try:
        outcome = studio.reconcile()
        recovered = runner.recover()
        runner.prune_previews()
        log.info("start-up reconcile: %s; jobs: %s", outcome, recovered)
    except Exception:
        log.exception("start-up reconcile failed; the studio runs, reconcile again later")
    return studio, runner


def studio() -> Studio:
    return _engine(_fingerprint(settings()))[0]


def runner() -> JobRunner:
    return _engine(_fingerprint(settings()))[1]
