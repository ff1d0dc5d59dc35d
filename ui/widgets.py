"""Streamlit pieces shared by the pages."""

from __future__ import annotations

import re
import time
from typing import Any

import streamlit as st

from imagegen import CONTENT_TYPES, STAGES, ImagegenError, Job, StorageError, Studio, alt_text, for_display, usd

STAGE_LABELS = {
    "queued": "Queued",
    "directing": "Directing",
    "reserving": "Reserving",
    "rendering": "Rendering",
    "verifying": "Verifying",
    "saving": "Saving",
}


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")
# Markdown turns a bare "https://...", "www." or "name@host" into a live link whatever is escaped around it
# (entities too): such a word is drawn as inline code instead, never a link, and copied exactly as written.
_LINKISH = re.compile(r"\S*(?:://|www\.|\w@\w)\S*", re.IGNORECASE)


def plain(text: str) -> str:
    """User or provider text made inert for st.markdown, st.caption, st.error and button labels: no links,
    images, emphasis or HTML."""
    text, kept, last = str(text), [], 0
    for word in _LINKISH.finditer(text):
        kept += [_MARKDOWN_SPECIALS.sub(r"\\\1", text[last : word.start()]), _code(word.group())]
        last = word.end()
    kept.append(_MARKDOWN_SPECIALS.sub(r"\\\1", text[last:]))
    return "".join(kept)


def _code(word: str) -> str:
    """`word` as an inline code span: fenced by more backticks than it holds in a row."""
    fence = "`" * (max((len(run) for run in re.findall("`+", word)), default=0) + 1)
    pad = " " if word.startswith("`") or word.endswith("`") else ""
    return f"{fence}{pad}{word}{pad}{fence}"


@st.cache_data(max_entries=128, show_spinner=False)
def drawable(data: bytes, edge: int = 1024) -> bytes:
    """An image's bytes as the page draws them without more work on every run (imaging.for_display): made
    once per image and width, then reused by every rerun and visitor of this server."""
    return for_display(data, edge)


def picture(data: bytes | str, *, alt: str, edge: int = 1024, **options: Any) -> None:
    """st.image for stored bytes (made drawable once) or a storage URL, always with a text alternative."""
    st.image(drawable(data, edge) if isinstance(data, bytes) else data, alt=alt, **options)


def stored_bytes(fetch: Any, *args: Any) -> bytes | None:
    """An image's bytes, or None (with a note on the page) when storage cannot be reached right now."""
    try:
        return fetch(*args)
    except StorageError:
        st.warning("Storage cannot be reached right now: this image will show again when it is back.")
        return None


def job_status(job: Job, eta_seconds: float | None) -> None:
    """A live st.status for a job: each stage with the time it took, elapsed time, an ETA and the latest
    preview."""
    now = time.time()
    elapsed = job.elapsed(now)
    if job.status == "queued":
        header = f"Queued... {elapsed:.0f}s: waiting for a free worker"
    else:
        header = f"{STAGE_LABELS.get(job.stage, job.stage.capitalize())}... {elapsed:.0f}s"
    # Not a `with` block: leaving one marks the status complete, and this one is still running.
    status = st.status(header, expanded=True, state="running")
    marks = [m for m in job.stages if m.get("stage") in STAGE_LABELS]
    for index, mark in enumerate(marks):
        label = STAGE_LABELS[mark["stage"]]
        if index + 1 < len(marks):
            status.markdown(f"✓ {label} · {marks[index + 1]['at'] - mark['at']:.1f}s")
        else:
            status.markdown(f"**◐ {label}** · {now - mark['at']:.1f}s so far")
    seen = {m["stage"] for m in marks}
    for name in STAGES:
        if name not in seen:
            status.markdown(f":grey[○ {STAGE_LABELS[name]}]")
    retry = job.retry_note(now)
    if retry:
        status.warning(plain(retry), icon=":material/autorenew:")
    if eta_seconds:
        left = eta_seconds - elapsed
        note = f"~{left:.0f}s left" if left >= 1 else "taking longer than usual"
        if retry:
            note = "longer than usual while the image service is asked again"
        status.progress(min(1.0, elapsed / eta_seconds), text=f"Usually about {eta_seconds:.0f}s · {note}")
    else:
        status.caption(f"Elapsed {elapsed:.1f}s · too few renders like this one yet to estimate how long it takes")
    partial = job.latest_partial()
    if partial is not None:
        status.image(
            partial.read_bytes(),
            caption=f"Preview {job.partials}",
            width=256,
            alt=f"Preview {job.partials} of the image being rendered",
        )


def result_image(studio: Studio, key: str, result: dict[str, Any]) -> None:
    """One image of a result, fitted to its column, with its download."""
    try:
        record = studio.image(key)
    except ImagegenError:
        st.caption("This image was deleted from the gallery.")
        return
    original = stored_bytes(studio.image_bytes, record)
    if original is None:
        return
    picture(original, caption=result_caption(result), width="stretch", alt=alt_text(record))
    st.download_button(
        "Download",
        original,
        file_name=studio.download_name(record),
        mime=CONTENT_TYPES.get(record["format"], "application/octet-stream"),
        key=f"download-{key}",
        width="stretch",
    )


def thumbnail(studio: Studio, key: str) -> None:
    """A stored image's thumbnail, fitted to its column; a note when it is gone or unreachable."""
    try:
        record = studio.image(key)
    except ImagegenError:
        st.caption("Deleted from the gallery.")
        return
    shown = studio.image_url(record) or stored_bytes(studio.thumbnail_bytes, record)
    if shown is not None:
        picture(shown, width="stretch", alt=alt_text(record))


def result_caption(result: dict[str, Any]) -> str:
    bits = [result["model"], result["size"], result["quality"], usd(result.get("cost_usd") or 0.0)]
    if result.get("provider") == "offline":
        bits.append("offline placeholder")
    return " · ".join(str(b) for b in bits)


def first_on_phones(container_key: str) -> None:
    """On a narrow screen, where Streamlit stacks columns, put the column holding this container first;
    its figures are drawn compact, so what follows them stays in view."""
    st.html(
        "<style>@media (max-width: 640px) {"
        f'div[data-testid="stColumn"]:has(.st-key-{container_key}) {{ order: -1; }}'
        # its own figures stay side by side rather than one under another
        f'.st-key-{container_key} [data-testid="stHorizontalBlock"] {{ flex-wrap: nowrap; gap: 0.5rem; }}'
        f'.st-key-{container_key} [data-testid="stColumn"] {{ min-width: 0; }}'
        "}"
        f'.st-key-{container_key} [data-testid="stMetricValue"] {{ font-size: 1.6rem; }}'
        "</style>"
    )


def side_by_side(container_key: str) -> None:
    """Keep the columns inside this container side by side on a phone too (small thumbnails, say), where
    Streamlit would stack each one full width."""
    st.html(
        "<style>@media (max-width: 640px) {"
        f'.st-key-{container_key} [data-testid="stHorizontalBlock"] {{ flex-wrap: nowrap; gap: 0.5rem; }}'
        f'.st-key-{container_key} [data-testid="stColumn"] {{ min-width: 0; }}'
        "}</style>"
    )


def figures_in_a_row(container_key: str) -> None:
    """A row of metrics that stays a row on a phone, in a size three of them fit (stacked, each takes a
    screen's third)."""
    side_by_side(container_key)
    st.html(
        "<style>@media (max-width: 640px) {"
        f'.st-key-{container_key} [data-testid="stMetricValue"] {{ font-size: 1.5rem; }}'
        "}</style>"
    )


#: the keyboard's place on the page, 2 px in each scheme's accent (Streamlit draws 1 px or nothing)
FOCUS_RING = (
    '[data-testid="stSelectbox"] div:has(> div > input:focus), [data-testid="stTextInput"] div:has(> input:focus), '
    '[data-testid="stNumberInputContainer"]:focus-within, button:focus-visible, a:focus-visible '
    "{{ outline: 2px solid {color} !important; outline-offset: 1px; }}"
)
#: the light scheme's captions and hints, drawn opaque: 6:1 on the sidebar's grey (Streamlit fades its own
#: grey to 60%, 3.8:1)
LIGHT_CAPTION = "#55565b"
#: text on the dark scheme's accent (#6f8ff0)
DARK_ON_ACCENT = "#0e1117"


def page_style() -> None:
    """Less empty space above each page, so what matters starts higher; captions that read at 4.5:1 at
    least; a focus ring the keyboard's user can see."""
    st.html(
        "<style>"
        '.block-container, [data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }'
        # A page's sections are h2 under its h1 title (no level skipped), drawn at a section's size
        '[data-testid="stHeading"] h2 { font-size: 1.5rem; padding-top: 0.5rem; }'
        "@media (prefers-color-scheme: light) {"
        f'[data-testid="stCaptionContainer"] {{ color: {LIGHT_CAPTION}; opacity: 1; }}'
        + FOCUS_RING.format(color="#3a5ccc")
        + "}@media (prefers-color-scheme: dark) {"
        + FOCUS_RING.format(color="#6f8ff0")
        # a chosen option's tag: white on the dark scheme's light accent reads at 3:1, near-black at 6:1
        + f"[data-tag], [data-tag] span, [data-tag] button {{ color: {DARK_ON_ACCENT} !important; }}"
        + "}"
        "</style>"
    )


def even_tiles(key_prefix: str) -> None:
    """Gallery tiles of one row the same height: square pictures (cropped to fill), titles of two lines."""
    st.html(
        "<style>"
        f'[class*="st-key-{key_prefix}"] img {{ aspect-ratio: 1 / 1; object-fit: cover; }}'
        f'[class*="st-key-{key_prefix}"] button {{ text-align: left; justify-content: flex-start; }}'
        f'[class*="st-key-{key_prefix}"] button p {{ display: -webkit-box; -webkit-line-clamp: 2; '
        "-webkit-box-orient: vertical; overflow: hidden; min-height: 2.8rem; text-align: left; }"
        # who and when on one line, cut with an ellipsis: a long email does not push the row out of line
        f'[class*="st-key-{key_prefix}"] [data-testid="stCaptionContainer"] p {{ white-space: nowrap; '
        "overflow: hidden; text-overflow: ellipsis; }"
        "</style>"
    )


def swatches(colours: tuple[str, ...]) -> None:
    """The team's colours as small squares with their codes. Each is a checked #rrggbb (imagegen.team), so it
    is safe inside a style."""
    cells = "".join(
        f'<span style="display:inline-flex;align-items:center;gap:.35rem;margin-right:1rem">'
        f'<span aria-hidden="true" style="width:1.4rem;height:1.4rem;border-radius:.3rem;background:{colour};'
        f'border:1px solid rgba(128,128,128,.5)"></span><code>{colour}</code></span>'
        for colour in colours
        if re.fullmatch(r"#[0-9a-f]{6}", colour)
    )
    st.html(f"<div>{cells}</div>")
