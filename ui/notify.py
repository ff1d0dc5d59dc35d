"""Tell the user when a render of theirs ends while they are on another page."""

from __future__ import annotations

import streamlit as st

from imagegen import Studio
from ui import widgets

SEEN = "notify_seen_jobs"


def finished_elsewhere(studio: Studio, user: str, *, on_generate_page: bool) -> None:
    """Poll while the user has jobs running; toast each one that ends, unless the Generate page shows it."""
    jobs = studio.jobs_for(user, limit=8)
    seen: set[str] = st.session_state.setdefault(SEEN, {j.id for j in jobs if not j.active})
    running = [j for j in jobs if j.active]

    @st.fragment(run_every=2.0 if running else None)
    def watch() -> None:
        for job in studio.jobs_for(user, limit=8):
            if job.active or job.id in seen:
                continue
            seen.add(job.id)
            if on_generate_page:
                continue
            if job.status == "succeeded":
                st.toast(f"Your image is ready: {widgets.plain(job.request.prompt[:60])}", icon=":material/image:")
            elif job.status == "failed":
                st.toast(f"A generation failed: {widgets.plain((job.error or '')[:80])}", icon=":material/error:")

    watch()
