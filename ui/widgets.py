"""Streamlit pieces shared by the pages."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import streamlit as st

from imagegen import STAGES, DirectedPrompt, Job, StorageError
from imagegen.money import usd

FACET_COLOURS = {
    "style": "#e8f0fe",
    "lighting": "#fef7e0",
    "camera": "#e6f4ea",
    "mood": "#fce8e6",
    "detail": "#f3e8fd",
}
STAGE_LABELS = {
    "queued": "Queued",
    "directing": "Directing",
    "reserving": "Reserving",
    "rendering": "Rendering",
    "verifying": "Verifying",
    "saving": "Saving",
}


def directed_prompt(directed: DirectedPrompt, limit: int) -> None:
    """The exact text that will be sent, with what the Director added highlighted by facet."""
    parts = []
    for text, facet in directed.segments:
        if facet:
            colour = FACET_COLOURS.get(facet, "#eeeeee")
            parts.append(
                f'<mark title="{facet}" data-facet="{facet}" style="background:{colour};padding:0 2px;'
                f'border-radius:3px">{html.escape(text)}</mark>'
            )
        else:
            parts.append(html.escape(text))
    st.markdown(
        f'<div class="directed-prompt" style="font-family:ui-monospace,monospace;font-size:0.9rem;line-height:1.5;'
        f'border:1px solid #ddd;border-radius:6px;padding:8px">{"".join(parts)}</div>',
        unsafe_allow_html=True,
    )
    added = len(directed.additions)
    dropped = f", {len(directed.dropped)} dropped to fit" if directed.dropped else ""
    st.caption(f"{len(directed.text):,} / {limit:,} characters · {added} keywords added by the Director{dropped}")


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")
# Markdown turns bare "https://...", "www." and "name@host" into links whatever is escaped: a word joiner
# (invisible, zero width) inside each keeps them text.
_AUTOLINKS = re.compile(r"(?i)(:)(//)|(www)(\.)|(\w)(@)(?=\w)")
WORD_JOINER = "\u2060"


def plain(text: str) -> str:
    """User or provider text made inert for st.markdown, st.caption and st.error: no links, images,
    emphasis or HTML."""
    unlinked = _AUTOLINKS.sub(lambda m: WORD_JOINER.join(g for g in m.groups() if g is not None), str(text))
    return _MARKDOWN_SPECIALS.sub(r"\\\1", unlinked)


def stored_bytes(fetch: Any, *args: Any) -> bytes | None:
    """An image's bytes, or None (with a note on the page) when storage cannot be reached right now."""
    try:
        return fetch(*args)
    except StorageError:
        st.warning("Storage cannot be reached right now: this image will show again when it is back.")
        return None


def job_status(job: Job, eta_seconds: float | None) -> None:
    """A live st.status for a job: the stages done so far, elapsed time, an ETA and the latest preview."""
    now = time.time()
    stage = STAGE_LABELS.get(job.stage, job.stage.capitalize())
    elapsed = job.elapsed(now)
    # Not a `with` block: leaving one marks the status complete, and this one is still running.
    status = st.status(f"{stage}... {elapsed:.0f}s", expanded=True, state="running")
    seen = {s["stage"]: s for s in job.stages}
    start = job.started_at or job.created_at
    for name in STAGES:
        mark = seen.get(name)
        if mark is None:
            status.markdown(f":grey[○ {STAGE_LABELS[name]}]")
        elif name == job.stage:
            status.markdown(f"**◐ {STAGE_LABELS[name]}** · started at {mark['at'] - start:.1f}s")
        else:
            status.markdown(f"✓ {STAGE_LABELS[name]} · at {mark['at'] - start:.1f}s")
    if eta_seconds:
        left = max(0.0, eta_seconds - elapsed)
        status.progress(
            min(1.0, elapsed / eta_seconds), text=f"Usually takes about {eta_seconds:.0f}s · ~{left:.0f}s left"
        )
    else:
        status.caption(f"Elapsed {elapsed:.1f}s · no timing history for this model yet")
    partial = job.latest_partial()
    if partial is not None:
        status.image(partial.read_bytes(), caption=f"Preview {job.partials}", width=256)


def result_caption(result: dict[str, Any]) -> str:
    bits = [result["model"], result["size"], result["quality"], usd(result.get("cost_usd") or 0.0)]
    if result.get("provider") == "offline":
        bits.append("offline placeholder")
    return " · ".join(str(b) for b in bits)
