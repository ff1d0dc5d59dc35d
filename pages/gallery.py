"""Gallery: the team's images newest first, searched, filtered, inspected, shared, kept as favourites,
downloaded, re-run or deleted."""

import time
from urllib.parse import quote

import streamlit as st

from imagegen import CONTENT_TYPES, RENDITION_EDGES, HistoryFilter, ImagegenError, alt_text, counted
from ui import boards as board_widgets
from ui import editor, runtime, widgets, writing
from ui.copy_link import copy_link
from ui.identity import viewer

COLUMNS = 4
KINDS = {"Prompts and edits": "", "Edits only": "edits", "Originals only": "originals"}
ASSETS = {"Every kind": "", "Pictures": "picture", "Logos and icons": "vector", "Animations": "animation"}
#: how long "Deleted: ..." stays on the page after a delete
DELETED_SHOWN_SECONDS = 10
#: the detail's button that leaves for the Generate page, clicked (see leaving_for)
LEAVING = "gal_leaving"
#: the image described as a prompt in the detail: its key and the description
DESCRIBED = "gal_described"

studio = runtime.studio()
me = viewer()
state = st.session_state
preset_label = studio.preset_label


st.title("Gallery")
widgets.even_tiles("tile-")

search_col, scope_col = st.columns([3, 2])
text = search_col.text_input("Search the prompts", key="gal_text", placeholder="fox snow, cats, neon...")
scope = scope_col.segmented_control("Show", ["Everyone", "Mine", "Favourites"], default="Everyone", key="gal_scope")
with st.expander("More filters: user, model, preset, edits, kind, dates"):
    user_col, model_col, preset_col = st.columns(3)
    users = studio.gallery_choices("user")
    user = user_col.selectbox("User", ["Anyone", *users], key="gal_user", disabled=scope == "Mine")
    models = studio.gallery_choices("model")
    model = model_col.selectbox("Model", ["Any", *models], key="gal_model")
    preset = preset_col.selectbox(
        "Preset", ["Any", *studio.gallery_choices("preset")], key="gal_preset", format_func=preset_label
    )
    kind_col, asset_col, dates_col, everywhere_col = st.columns(4)
    kind = kind_col.selectbox("Made by", list(KINDS), key="gal_kind")
    asset = asset_col.selectbox("Kind", list(ASSETS), key="gal_asset")
    dates = dates_col.date_input("Dates (any when empty)", value=[], key="gal_dates", max_value=studio.today())
    everywhere = everywhere_col.checkbox("Search the Director's keywords too", key="gal_everywhere")

# A range being picked has one date until the second click: filter from it meanwhile.
since = dates[0] if len(dates) >= 1 else None
until = dates[1] if len(dates) == 2 else None
filters = HistoryFilter(
    user=me.name if scope == "Mine" else ("" if user == "Anyone" else user),
    model="" if model == "Any" else model,
    preset="" if preset == "Any" else preset,
    since=since,
    until=until,
    text=text,
    everywhere=everywhere,
    favourites_of=me.name if scope == "Favourites" else "",
    kind=KINDS[kind],
    asset=ASSETS[asset],
)
signature = repr(filters)
if state.get("gal_signature") != signature:
    state["gal_signature"] = signature
    state["gal_pages"] = [None]


def share_link(link: str) -> str:
    """The address a teammate opens: this page's, with the image's short link."""
    base = (st.context.url or "").split("?")[0]
    return f"{base}?image={quote(link, safe='')}"


def close_detail() -> None:
    state.pop("gallery_open", None)
    st.query_params.pop("image", None)


@st.dialog("Image", width="large", on_dismiss=close_detail)
def detail(key: str, link: str) -> None:
    try:
        record = studio.image(key)
    except ImagegenError as exc:
        st.error(widgets.plain(exc.message))
        return
    if (action := state.pop(LEAVING, None)) is not None:
        leave(action, key, record)  # to the Generate page at once; here only when it cannot (it says why)
    # The picture fits the screen's height, so the dialog's actions are in view under it on a laptop.
    st.html('<style>[role="dialog"] [data-testid="stImage"] img { max-height: 58vh; object-fit: contain; }</style>')
    picture, about = st.columns([3, 2])
    original = widgets.stored_bytes(studio.image_bytes, record)
    with picture:
        if original is not None:
            widgets.picture(original, width="stretch", alt=alt_text(record))
    with about:
        st.markdown(f"**Prompt:** {widgets.plain(record['prompt'])}")
        written_up(record)
        st.markdown("**Directed prompt (what was sent):**")
        st.code(record["directed_prompt"], language=None, wrap_lines=True)
        if record.get("revised_prompt"):
            st.markdown(f"**Revised by the model:** {widgets.plain(record['revised_prompt'])}")
        st.caption(
            f"{widgets.plain(preset_label(record['preset']))} · {record['model']} · {record['size']} · "
            f"{record['quality']} · {widgets.usd(record.get('cost_usd') or 0)} · by {widgets.plain(record['user'])} · "
            + studio.local_time(record["created_at"])
        )
        if record.get("pending"):
            st.warning("Not uploaded to storage yet: kept on the server and uploaded at the next reconcile.")
        favourite = key in studio.favourites_among(me.name, [key])
        if st.toggle("Favourite", value=favourite, key=f"fav-{key}") != favourite:
            studio.mark_favourite(key, me.name, not favourite)
            st.rerun()
        lineage(record)
        reviews(key)
        board_widgets.add_to_board(studio, me.name, [key], key="detail")
        asset_details(record, original)
        describe_offer(key, original)
        copy_link(share_link(link), label="Link to this image, for a teammate", key="detail-link")
    download, change, reuse, remove = st.columns(4)
    download.download_button(
        "Download original",
        original or b"",
        disabled=original is None,
        file_name=studio.download_name(record),
        mime=CONTENT_TYPES.get(record["format"], "application/octet-stream"),
        key="detail-download",
        width="stretch",
    )
    change.button(
        "Edit", key="detail-edit", width="stretch", help="Start an edit from this image", **leaving_for("edit")
    )
    if editor.EDITING in state:
        st.button(
            "Add to the edit as a reference",
            key="detail-reference",
            icon=":material/add_photo_alternate:",
            **leaving_for("reference"),
        )
    reuse.button("Use these settings", key="detail-reuse", width="stretch", **leaving_for("reuse"))
    if studio.may_delete(record, me.name) and remove.toggle("Delete...", key="detail-delete-arm"):
        st.warning("This removes the image, its thumbnail and its record for everyone. It cannot be undone.")
        if st.button("Delete for good", icon=":material/delete_forever:", key="detail-delete"):
            try:
                studio.delete_image(key, me.name)
            except ImagegenError as exc:
                st.error(widgets.plain(exc.message))
            else:
                state["gal_deleted"] = (record["prompt"], time.monotonic())
                close_detail()
                st.rerun()


def reviews(key: str) -> None:
    """Where the image stands in review on the boards this user can see, decision by decision."""
    decisions = studio.review_decisions(key, me.name)
    if not decisions:
        return
    if key in studio.approved_among([key]):
        st.markdown("**✓ Approved**")
    st.markdown("**Review**")
    for decision in decisions:
        st.caption(board_widgets.review_line(decision, studio.local_time(decision.at)))


def written_up(record: dict) -> None:
    """Where a prompt written up by the writing Director came from: the user's words, and what wrote it."""
    rewrite = record.get("rewrite")
    if not rewrite:
        return
    edited = " The prompt was edited after it was written." if rewrite["prompt"] != record["prompt"] else ""
    if rewrite.get("from") == "image":
        st.caption(
            widgets.plain(
                f"The prompt began as a description of an image by the writing Director ({rewrite['model']}, "
                f"instructions version {rewrite['instruction_version']}).{edited}"
            )
        )
        return
    st.markdown(f"**Written up from:** {widgets.plain(rewrite['user_text'])}")
    st.caption(
        widgets.plain(
            f"By the writing Director ({rewrite['model']}) under the {preset_label(rewrite['preset'])} preset's "
            f"instructions, version {rewrite['instruction_version']}.{edited}"
        )
    )


def describe_offer(key: str, original: bytes | None) -> None:
    """ "Describe as a prompt": the prompt that would make this image, written where the user looks, to
    start a new image from or to guide an edit of this one."""
    described = state.get(DESCRIBED)
    if described is None or described[0] != key:
        if original is None or not st.button(
            "Describe as a prompt", key="detail-describe", icon=":material/text_snippet:",
            help="A writer looks at the image and writes the prompt that would make it. Metered like a rewrite.",
        ):  # fmt: skip
            return
        written = writing.written_live("Describing the image...", lambda heard: studio.describe(original, me.name, on_text=heard))  # fmt: skip
        if written is None:
            return
        state[DESCRIBED] = described = (key, written)
    with st.container(border=True, key="described"):
        st.markdown("**Described as a prompt**")
        st.markdown(widgets.plain(described[1].prompt))
        st.caption(widgets.plain(writing.cost_note(described[1], studio.writing_in_quota())))
        new, edit = st.columns(2)
        new.button(
            "Start a new image from it", key="detail-describe-new", width="stretch", **leaving_for("describe-new")
        )
        edit.button("Edit this image from it", key="detail-describe-edit", width="stretch", **leaving_for("describe-edit"))  # fmt: skip


def asset_details(record: dict, original: bytes | None) -> None:
    """A logo's safety check and its PNG renditions; an animation's frames."""
    if record.get("kind") == "animation" and record.get("frame_count"):
        each = f", {record['frame_duration_ms']} ms each" if record.get("frame_duration_ms") else ""
        st.caption(f"Animation: {counted(record['frame_count'], 'frame')}{each}, looping.")
    if record.get("kind") != "vector":
        return
    removed = record.get("sanitised") or []
    if removed:
        shown = "; ".join(removed[:6]) + (f"; and {len(removed) - 6} more" if len(removed) > 6 else "")
        st.caption(
            widgets.plain(f"Made safe before it was kept: removed {shown}. The provider's file is kept for audit.")
        )
    else:
        st.caption("Checked before it was kept: nothing in it can run a script or fetch from elsewhere.")
    if original is None:
        return
    size_col, button_col = st.columns([1, 1], vertical_alignment="bottom")
    edge = size_col.selectbox("PNG size", RENDITION_EDGES, index=RENDITION_EDGES.index(512), key="detail-edge",
                              format_func=lambda e: f"{e} px")  # fmt: skip
    try:
        png = studio.png_rendition(record, edge, original)
    except ImagegenError as exc:
        st.error(widgets.plain(exc.message))
        return
    button_col.download_button("Download PNG", png, file_name=studio.rendition_name(record, edge), mime="image/png",
                               key="detail-png", width="stretch")  # fmt: skip


def leaving_for(action: str) -> dict:
    """A button that leaves for the Generate page: its click is noted before the dialog reruns, and the
    rerun leaves before drawing the dialog again (a redraw the user would only watch disappear)."""
    return {"on_click": state.__setitem__, "args": (LEAVING, action)}


def leave(action: str, key: str, record: dict) -> None:
    """Edit the image, add it to the edit as a reference, or use its settings: on the Generate page."""
    settings = studio.prefill_from(record)
    described = state.pop(DESCRIBED, (None, None))[1]
    if action.startswith("describe") and described is None:
        st.error("The description is gone (the page was reloaded): describe the image again.")
        return
    if action == "describe-new":
        editor.stop()
        state["generate_prefill"] = {"prompt": described.prompt, "raw": True, "rewrite": described.key}
    elif action == "describe-edit":
        if not started(editor.begin, studio, key, described.prompt):
            return
    elif action == "edit":
        if not started(editor.begin, studio, key):
            return
        state["generate_prefill"] = {k: settings[k] for k in ("model", "quality", "output_format")}
    elif action == "reference":
        if not started(editor.add_reference, studio, key):
            return
    elif record.get("inputs"):  # an edit's settings include what it was made from; its instruction goes with it
        settings.pop("prompt")
        started(editor.remake, studio, record)
        state["generate_prefill"] = settings
    else:
        editor.stop()
        state["generate_prefill"] = settings
    close_detail()
    st.switch_page("pages/generate.py")


def started(step, *args) -> bool:
    """Run an editor step that reads the image from storage; say why when it cannot."""
    try:
        step(*args)
    except ImagegenError as exc:
        st.error(widgets.plain(exc.message))
        return False
    return True


def lineage(record: dict) -> None:
    """Where the image came from and what was made from it: step through the chain."""
    ancestors, children = studio.lineage(record["key"])
    if not (ancestors or children or record.get("inputs")):
        return
    with st.container(key="lineage"):
        widgets.side_by_side("lineage")
        lineage_steps(record, ancestors, children)


def lineage_steps(record: dict, ancestors: list, children: list) -> None:
    inputs = [i for i in record.get("inputs") or [] if i["role"] != "image"]
    st.markdown("**Lineage**")
    if record.get("inputs") and not ancestors:
        st.caption(
            "Edited from an uploaded image." if not record.get("parent_key") else "Edited from an image since deleted."
        )
    steps = [("Made from", ancestors[0])] if ancestors else []
    steps += [("Edited into", child) for child in children[: 4 - len(steps)]]
    if steps:
        columns = st.columns(4)
        for column, (relation, other) in zip(columns, steps, strict=False):
            with column:
                shown = studio.image_url(other) or widgets.stored_bytes(studio.thumbnail_bytes, other)
                if shown is not None:
                    widgets.picture(shown, width="stretch", alt=alt_text(other, relation))
                if st.button(
                    relation, key=f"step-{other['key']}", type="tertiary", help=widgets.plain(other["prompt"][:200])
                ):
                    state["gallery_open"] = other["key"]
                    st.rerun()
    if len(ancestors) > 1:
        st.caption(f"{len(ancestors)} edits from the original image.")
    if len(children) > 4 - bool(ancestors):
        st.caption(f"Edited into {len(children)} images; open one to step on.")
    if inputs:
        roles = ", ".join(sorted({i["role"] for i in inputs}))
        st.caption(f"Also sent with the edit: {roles}.")
        columns = st.columns(4)
        for column, item in zip(columns, inputs[:4], strict=False):
            data = widgets.stored_bytes(studio.input_bytes, record, item["key"])
            if data is not None:
                with column:
                    widgets.picture(data, caption=item["role"], width="stretch", alt=f"The edit's {item['role']}")


# The confirmation stays a few seconds, across the reruns that closing the dialog brings, so it is seen.
deleted = state.get("gal_deleted")
if deleted and time.monotonic() - deleted[1] < DELETED_SHOWN_SECONDS:
    st.success(f"Deleted: {widgets.plain(deleted[0][:80])}", icon=":material/delete:")
elif deleted:
    del state["gal_deleted"]

items, next_token = [], None
for token in state["gal_pages"]:
    page = studio.history(filters, token)
    items += page.items
    next_token = page.next_token

if not items:
    if studio.count_images() == 0:
        st.info(
            "No images yet. Open **Generate**, type a short prompt such as *a lighthouse at dusk*, and press Generate."
        )
        st.page_link("pages/generate.py", label="Make the first image", icon=":material/brush:")
    elif scope == "Favourites" and not any((text, user != "Anyone", model != "Any", preset != "Any", dates)):
        st.info("No favourites yet: open an image and switch on Favourite to keep it here.")
    else:
        st.info("No image matches these filters.")
else:
    total = studio.count_images(filters)
    st.caption(counted(total, "image"))
    stars = studio.favourites_among(me.name, [i["key"] for i in items])
    approved = studio.approved_among([i["key"] for i in items])
    columns = st.columns(COLUMNS)
    for index, item in enumerate(items):
        with columns[index % COLUMNS], st.container(key=f"tile-{index}"):
            shown = studio.image_url(item) or widgets.stored_bytes(studio.thumbnail_bytes, item)
            if shown is not None:
                widgets.picture(shown, width="stretch", alt=alt_text(item))
            star = "★ " if item["key"] in stars else ""
            # The prompt opens the image: each tile's button says which image it opens, to a screen reader too.
            if st.button(f"{star}{widgets.plain(item['prompt'][:60])}", key=f"open-{item['key']}", type="tertiary"):
                state["gallery_open"] = item["key"]
            mark = " · ✓ approved" if item["key"] in approved else ""
            st.caption(f"{widgets.plain(item['user'])} · {studio.local_time(item['created_at'])}{mark}")
    if next_token and st.button("Load more"):
        state["gal_pages"].append(next_token)
        st.rerun()

linked = st.query_params.get("image")
if linked and (state.get("arrived") or state.get("gal_linked") != linked):
    state["gal_linked"] = linked  # a link opens its image when followed, not on every rerun after
    state["gallery_open"] = studio.key_for_link(linked)
if state.get("gallery_open"):
    link = studio.link_for(state["gallery_open"])
    st.query_params["image"] = link  # the address bar is the link to what is open
    state["gal_linked"] = link  # our own link: not one to follow again on the next rerun
    detail(state["gallery_open"], link)
