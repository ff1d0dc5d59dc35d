"""The writing Director in the pages: a rewrite or a description written where the user is looking (its
words streamed into a status box as they come), and a rewrite drawn with what it added marked by facet.
Every word of it is drawn inert: escaped, never live Markdown or HTML."""

from __future__ import annotations

import html
from collections.abc import Callable

import streamlit as st

from imagegen import ImagegenError, Rewrite
from ui import widgets
from ui.prompt_box import FACET_COLOURS

#: the text of a mark, dark on each facet's light colour in either scheme (as the live preview draws them)
MARK_TEXT = "#1f2330"


def written_live(label: str, work: Callable[[Callable[[str], None]], Rewrite]) -> Rewrite | None:
    """Run `work` (a rewrite or a description, given a listener) inside a status box that shows the words
    as they are written; None, with the reason in the box, when it could not be written."""
    box = st.status(label, expanded=True, state="running")
    shown = box.empty()
    shown.caption("Waiting for the first words...")
    try:
        result = work(lambda text: shown.markdown(widgets.plain(text)))
    except ImagegenError as exc:
        box.update(label="Nothing was written", state="error", expanded=True)
        shown.error(widgets.plain(exc.message))
        return None
    box.update(label="Written", state="complete", expanded=False)
    return result


def marked(segments: list[tuple[str, str]], *, key: str) -> None:
    """A rewrite's text with each addition marked in its facet's colour (named on hover and to screen
    readers); the user's own words unmarked."""
    parts = []
    for text, facet in segments:
        if not facet:
            parts.append(html.escape(text))
            continue
        colour = FACET_COLOURS.get(facet, FACET_COLOURS["detail"])
        parts.append(
            f'<mark title="added: {facet}" aria-label="added ({facet}): {html.escape(text, quote=True)}" '
            f'style="background:{colour};color:{MARK_TEXT};padding:0 2px;border-radius:3px">{html.escape(text)}</mark>'
        )
    with st.container(key=key):
        st.html(f'<p style="margin:0;line-height:1.6;overflow-wrap:anywhere">{"".join(parts)}</p>')


def cost_note(result: Rewrite, in_quota: bool) -> str:
    """What a rewrite or description cost and what it counted against, as a person reads it."""
    if result.cached:
        return "From the team's earlier answer: no new call, no cost."
    counted = "the team budget and one of your images today" if in_quota else "the team budget"
    return f"Cost {widgets.usd(result.cost_usd)}, counted against {counted}."
