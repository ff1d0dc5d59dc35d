"""The Generate page's edit panel: the starting image, reference images, and a painted mask or a drawn
markup. It only reads what the user gives and hands it to the engine's checks (imagegen/edits.py)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, replace
from typing import Any

import streamlit as st
from PIL import Image

from imagegen import (
    EditInputs,
    FormChoices,
    ImagegenError,
    Studio,
    Upload,
    alt_text,
    counted,
    drawn_layer,
    markup_from_drawing,
    mask_from_painting,
)
from ui import attention, widgets, writing
from ui.identity import viewer

#: the session key of what is being edited
EDITING = "g_edit"
PENDING = "g_edit_pending"
#: the new image's prompt, kept while an edit is shaped
NEW_PROMPT = "g_new_prompt"
WHOLE, PAINT, MARKUP = "Whole image", "Paint where to change", "Draw on it to guide"
#: the canvas's width on a laptop and on a phone (a canvas wider than its column scrolls, which spoils painting)
CANVAS_WIDTH, PHONE_CANVAS_WIDTH = 420, 300
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp"]
#: how many of the brand kit's approved images an edit offers as references
BRAND_KIT_OFFERED = 4
#: why a brand kit image could not be added, for the run after the press
KIT_PROBLEM = "g_kit_problem"


@dataclass(frozen=True)
class EditSource:
    """What an edit starts from, kept in the session while the user shapes the edit."""

    start: Upload
    label: str
    parent_key: str = ""
    #: references, mask or markup an edited image was made with (to make it again or more like it)
    references: tuple[Upload, ...] = ()
    mask: bytes | None = None
    markup: bytes | None = None
    #: what to change, as the edit starts (the instruction an edited image was made with, or a draft's)
    instruction: str = ""
    #: the gallery images among the references, so the brand kit does not offer one twice
    reference_keys: tuple[str, ...] = ()


def active(studio: Studio) -> EditSource | None:
    """What is being edited, if anything; an upload taken on the last run starts its edit here, before
    any widget of the form is drawn."""
    pending = st.session_state.pop(PENDING, None)
    if pending is not None:
        _start(pending, studio)
    return st.session_state.get(EDITING)


def begin(studio: Studio, key: str, instruction: str = "") -> None:
    """Edit a gallery image (or a result): it becomes the starting image and its parent, from the next run
    of the Generate page on (the form's widgets take the edit's defaults before they are drawn)."""
    record = studio.image(key)
    start = studio.starting_image(key)
    st.session_state[PENDING] = EditSource(start, record["prompt"][:80], parent_key=key, instruction=instruction)


def remake(studio: Studio, record: dict[str, Any]) -> None:
    """Edit again what an edited image was made from: its starting image, references and mask or markup."""
    edit = studio.edit_of_record(record)
    if edit is None:
        return
    label = f"{record['prompt'][:60]} (from the images it was made with)"
    st.session_state[PENDING] = EditSource(
        edit.first, label, edit.parent_key, edit.images[1:], edit.mask, edit.markup, instruction=record["prompt"]
    )


def add_reference(studio: Studio, key: str) -> None:
    """A gallery image as one more reference for the edit being shaped."""
    source = st.session_state.get(EDITING)
    if source is not None:
        reference = studio.starting_image(key)
        st.session_state[EDITING] = replace(
            source, references=(*source.references, reference), reference_keys=(*source.reference_keys, key)
        )


def _start(source: EditSource, studio: Studio) -> None:
    state = st.session_state
    if EDITING not in state:  # the new image's prompt waits, untouched, until the edit stops
        state[NEW_PROMPT] = state.get("g_prompt_value", "")
    state["g_prompt_value"] = source.instruction
    state["g_prompt_version"] = state.get("g_prompt_version", 0) + 1
    state[EDITING] = source
    attention.ask("editor")  # the page may be scrolled to a result: the edit's header and its box in view
    state["g_edit_mode"] = PAINT if source.mask else (MARKUP if source.markup else WHOLE)
    state["g_edit_canvas"] = state.get("g_edit_canvas", 0) + 1  # a new image: a clean canvas
    for name, value in studio.form_choices(state.get("g_model"), editing=True).starting_an_edit().items():
        state[f"g_{name}"] = value


def stop() -> None:
    """Back to a new image, with the prompt it had before the edit began."""
    state = st.session_state
    state.pop(PENDING, None)
    if state.pop(EDITING, None) is not None:
        state["g_prompt_value"] = state.pop(NEW_PROMPT, "")
        state["g_prompt_version"] = state.get("g_prompt_version", 0) + 1


def new_image_prompt(typed: str) -> str:
    """The prompt of a new image as the user left it: what is typed, or while editing what waits."""
    return st.session_state.get(NEW_PROMPT, "") if st.session_state.get(EDITING) is not None else typed


def offer_upload(studio: Studio) -> None:
    """Not editing: let the user start from an image of their own. The uploader is drawn only once asked
    for, so every other visit to the page stays as light as it was."""
    if not st.session_state.get("g_offer_upload"):
        if st.button("Edit an image instead: start from one of yours", icon=":material/upload:", type="tertiary"):
            st.session_state["g_offer_upload"] = True
            st.rerun(scope="app")
        return
    with st.container(border=True, key="start-upload"):
        version = st.session_state.get("g_start_upload_version", 0)
        upload = st.file_uploader(
            "Starting image (PNG, JPEG or WebP, under 50 MB)", type=UPLOAD_TYPES, key=f"g_start_upload_{version}"
        )
        if upload is not None:
            try:
                start = studio.prepare_edit([upload.getvalue()]).first
            except ImagegenError as exc:
                st.error(widgets.plain(exc.message))
                return
            # Started on the next run, before the form's widgets exist (their values change with it).
            st.session_state[PENDING] = EditSource(start, upload.name[:80])
            # A new uploader next time: the file is taken, and Stop must not find it there to start again.
            st.session_state["g_start_upload_version"] = version + 1
            st.session_state["g_offer_upload"] = False
            st.rerun(scope="app")
        st.caption("Or open any image in the Gallery and press Edit.")
        if st.button("Not now", key="g_start_upload_close", type="tertiary"):
            st.session_state["g_offer_upload"] = False
            st.rerun(scope="app")


def header(studio: Studio, source: EditSource, user: str) -> None:
    """What is being edited, small, above the prompt: in view on a phone too, where the tools come later."""
    with st.container(key="edit-header"):
        widgets.side_by_side("edit-header")
        picture, about, close = st.columns([1, 6, 2], vertical_alignment="center")
        with picture:
            widgets.picture(source.start.data, edge=320, width="stretch", alt=f"The image being edited: {source.label}")
        about.markdown(f"**Editing** {widgets.plain(source.label)}")
        about.caption(f"{source.start.width}x{source.start.height}; the rest of the image is kept as it is.")
        if close.button("Stop", key="g_edit_stop", type="tertiary", icon=":material/close:", help="Stop editing"):
            stop()
            st.rerun(scope="app")  # the offer to upload an image, outside the composer, comes back
        if about.button("Describe as a prompt", key="g_edit_describe", type="tertiary", icon=":material/text_snippet:",
                        help="A writer describes the image as a prompt, into What to change: edit its words "
                        "to say how the image should become. Metered like a rewrite."):  # fmt: skip
            with about:
                described = writing.written_live(
                    "Describing the image...", lambda heard: studio.describe(source.start.data, user, on_text=heard)
                )
            if described is not None:
                st.session_state["g_prompt_value"] = described.prompt
                st.session_state["g_prompt_version"] = st.session_state.get("g_prompt_version", 0) + 1
                st.rerun()  # the box drawn again with the description in it


def panel(studio: Studio, choices: FormChoices, source: EditSource) -> tuple[EditInputs | None, str | None]:
    """Draw the edit tools; return the checked edit (None while it is incomplete) and what to fix."""
    with st.container(border=True, key="edit-panel"):
        modes = [WHOLE, PAINT, *([MARKUP] if choices.spec.markup else [])]
        if st.session_state.get("g_edit_mode") not in modes:
            st.session_state["g_edit_mode"] = WHOLE
        mode = st.segmented_control("Where to change it", modes, key="g_edit_mode") or WHOLE
        mask, markup, problem = _overlay(source, mode)
        room = choices.reference_room(len(source.references))
        uploads = None
        if room > 0:
            _brand_kit_offer(studio, source)
            uploads = st.file_uploader(
                f"Reference images (optional, up to {room}): a product, a logo, a face, a style",
                type=UPLOAD_TYPES,
                accept_multiple_files=True,
                key=f"g_refs_{st.session_state.get('g_edit_canvas', 0)}",  # a new edit starts with none
            )
        if source.references:
            st.caption(f"With {counted(len(source.references), 'reference image')} chosen from the gallery.")
            if st.button("Remove them", key="g_refs_clear", type="tertiary"):
                st.session_state[EDITING] = replace(source, references=(), reference_keys=())
                st.rerun(scope="fragment")
        else:
            st.caption("To use a gallery image as a reference, open it in the Gallery: Add to the edit.")
        references = [*source.references, *(u.getvalue() for u in uploads or [])]
    if problem:
        return None, problem
    try:
        edit = _checked(studio, source, references, mask, markup)
    except ImagegenError as exc:
        return None, exc.message
    return edit, None


def _brand_kit_offer(studio: Studio, source: EditSource) -> None:
    """The brand kit's approved images first, one press each to send as a reference: what is made next
    looks like what was approved."""
    taken = {source.parent_key, *source.reference_keys}
    offered = [r for r in studio.brand_references(viewer().name) if r["key"] not in taken][:BRAND_KIT_OFFERED]
    if not offered:
        return
    st.markdown("**From the brand kit** (approved images)")
    columns = st.columns(BRAND_KIT_OFFERED // 2 if not _on_phone() else 2)
    for index, record in enumerate(offered):
        with columns[index % len(columns)]:
            shown = studio.image_url(record) or widgets.stored_bytes(studio.thumbnail_bytes, record)
            if shown is not None:
                widgets.picture(shown, width="stretch", alt=alt_text(record, "From the brand kit"))
            st.button("Use as a reference", key=f"g_kit_{record['key']}", type="tertiary",
                      help=widgets.plain(record["prompt"][:120]), on_click=_use_kit_image, args=(studio, record["key"]))  # fmt: skip
    if problem := st.session_state.pop(KIT_PROBLEM, None):
        st.error(widgets.plain(problem))


def _use_kit_image(studio: Studio, key: str) -> None:
    """Before the rerun the press brings, so that run draws the reference added."""
    try:
        add_reference(studio, key)
    except ImagegenError as exc:
        st.session_state[KIT_PROBLEM] = exc.message


def _overlay(source: EditSource, mode: str) -> tuple[bytes | None, bytes | None, str | None]:
    """The mask or markup drawn on the canvas (or the one the edit was made with), and what is missing."""
    if mode == WHOLE:
        return None, None, None
    drawn = _canvas(source, mode)
    try:
        overlay = _converted(drawn, mode, (source.start.width, source.start.height)) if drawn else None
    except ImagegenError as exc:
        return None, None, exc.message
    if overlay is None:
        kept = source.mask if mode == PAINT else source.markup
        if kept is None:
            what = "Paint over the part to change" if mode == PAINT else "Draw arrows, circles or notes on the image"
            return None, None, f"{what}, or choose {WHOLE}."
        overlay = kept
    return (overlay, None, None) if mode == PAINT else (None, overlay, None)


def _converted(drawn: bytes, mode: str, size: tuple[int, int]) -> bytes | None:
    """The canvas's PNG as the mask or markup the API takes (None while nothing is drawn), kept while the
    drawing is unchanged: a keystroke in the prompt does not convert it again."""
    signature = (mode, size, hashlib.sha256(drawn).hexdigest())
    cached = st.session_state.get("g_edit_overlay")
    if cached and cached[0] == signature:
        return cached[1]
    painting = drawn_layer(drawn)
    if painting is None:
        overlay = None
    else:
        overlay = mask_from_painting(painting, size) if mode == PAINT else markup_from_drawing(painting, size)
    st.session_state["g_edit_overlay"] = (signature, overlay)
    return overlay


def _canvas(source: EditSource, mode: str) -> bytes | None:
    from streamlit_drawable_canvas import st_canvas  # a component: loaded only where it is drawn

    width = PHONE_CANVAS_WIDTH if _on_phone() else CANVAS_WIDTH
    height = max(1, round(width * source.start.height / source.start.width))
    painting = mode == PAINT
    left, right = st.columns(2)
    brush = left.slider("Brush", 4, 80, 36 if painting else 6, key=f"g_brush_{mode}")
    tool = "freedraw"
    if not painting:
        tools = {"Pen": "freedraw", "Line": "line", "Box": "rect", "Circle": "circle", "Note": "text"}
        tool = tools[right.selectbox("Tool", list(tools), key="g_markup_tool")]
    st.caption(
        "Paint over what should change: the painted area is where the model may edit."
        if painting
        else "Draw what you want: circle a thing, point at it, write a note."
    )
    # The canvas's own toolbar (undo, redo, clear) floats above its top edge: room for it, off the caption.
    st.html('<style>[class*="st-key-g_canvas_"] { padding-top: 2.2rem; }</style>')
    result = st_canvas(
        fill_color="rgba(0, 0, 0, 0)" if not painting else "rgba(255, 64, 64, 0.45)",
        stroke_width=brush,
        stroke_color="rgba(255, 64, 64, 0.55)" if painting else "#ff2d2d",
        background_image=_backdrop(source.start.data, width, height),
        background_image_fit="stretch",
        width=width,
        height=height,
        drawing_mode=tool,
        return_image_data=True,
        key=f"g_canvas_{mode}_{st.session_state.get('g_edit_canvas', 0)}",
    )
    return result.image_bytes


def _on_phone() -> bool:
    agent = st.context.headers.get("User-Agent", "") if st.context.headers else ""
    return any(word in agent for word in ("Mobile", "Android", "iPhone"))


@st.cache_data(max_entries=8, show_spinner=False)
def _backdrop(data: bytes, width: int, height: int) -> bytes:
    picture = Image.open(io.BytesIO(data)).convert("RGB")
    picture.thumbnail((width * 2, height * 2))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def _checked(
    studio: Studio, source: EditSource, references: list[Any], mask: bytes | None, markup: bytes | None
) -> EditInputs:
    """The engine's check of the edit, kept while nothing changed: a keystroke does not check it again."""
    signature = hashlib.sha256()
    for part in (source.start.data, *(r if isinstance(r, bytes) else r.data for r in references), mask, markup):
        signature.update(hashlib.sha256(part or b"-").digest())
    signature.update(source.parent_key.encode())
    cached = st.session_state.get("g_edit_checked")
    if cached and cached[0] == signature.hexdigest():
        return cached[1]
    edit = studio.prepare_edit([source.start, *references], mask=mask, markup=markup, parent_key=source.parent_key)
    st.session_state["g_edit_checked"] = (signature.hexdigest(), edit)
    return edit
