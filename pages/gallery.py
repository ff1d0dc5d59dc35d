"""Gallery: the team's images newest first, filtered, inspected, downloaded, re-run or deleted."""

from datetime import date

import streamlit as st

from imagegen import HistoryFilter, ImagegenError
from ui import runtime, widgets
from ui.identity import viewer

studio = runtime.studio()
me = viewer()
state = st.session_state

st.title("Gallery")

with st.container(border=True):
    scope, user_col, model_col, preset_col = st.columns(4)
    mine = scope.segmented_control("Show", ["Everyone", "Mine"], default="Everyone", key="gal_scope") == "Mine"
    users = studio.gallery_choices("user")
    user = user_col.selectbox("User", ["Anyone", *users], key="gal_user", disabled=mine)
    models = studio.gallery_choices("model")
    model = model_col.selectbox("Model", ["Any", *models], key="gal_model")
    presets = studio.gallery_choices("preset")
    preset = preset_col.selectbox("Preset", ["Any", *presets], key="gal_preset")
    text_col, dates_col = st.columns([2, 2])
    text = text_col.text_input("Search the prompts", key="gal_text", placeholder="cat, neon, watercolor...")
    dates = dates_col.date_input("Dates (any when empty)", value=[], key="gal_dates", max_value=date.today())

# A range being picked has one date until the second click: filter from it meanwhile.
since = dates[0] if len(dates) >= 1 else None
until = dates[1] if len(dates) == 2 else None
filters = HistoryFilter(
    user=me.name if mine else ("" if user == "Anyone" else user),
    model="" if model == "Any" else model,
    preset="" if preset == "Any" else preset,
    since=since,
    until=until,
    text=text,
)
signature = repr(filters)
if state.get("gal_signature") != signature:
    state["gal_signature"] = signature
    state["gal_pages"] = [None]


@st.dialog("Image", width="large")
def detail(key: str) -> None:
    try:
        record = studio.image(key)
    except ImagegenError as exc:
        st.error(widgets.plain(exc.message))
        return
    picture, about = st.columns([3, 2])
    original = widgets.stored_bytes(studio.image_bytes, record)
    with picture:
        if original is not None:
            st.image(original, width="stretch")
    with about:
        st.markdown(f"**Prompt:** {widgets.plain(record['prompt'])}")
        st.markdown("**Directed prompt (what was sent):**")
        st.code(record["directed_prompt"], language=None, wrap_lines=True)
        if record.get("revised_prompt"):
            st.markdown(f"**Revised by the model:** {widgets.plain(record['revised_prompt'])}")
        st.caption(
            f"{record['preset']} · {record['model']} · {record['size']} · {record['quality']} · "
            f"{widgets.usd(record.get('cost_usd') or 0)} · by {widgets.plain(record['user'])} · "
            f"{record['created_at'][:19].replace('T', ' ')} UTC"
        )
        if record.get("pending"):
            st.warning("Not uploaded to storage yet: kept on the server and uploaded at the next reconcile.")
    download, reuse, remove = st.columns(3)
    download.download_button(
        "Download original",
        original or b"",
        disabled=original is None,
        file_name=f"{record['id']}.{record['format']}",
        mime=f"image/{record['format']}",
        key="detail-download",
    )
    if reuse.button("Use these settings", key="detail-reuse"):
        state["generate_prefill"] = studio.prefill_from(record)
        st.switch_page("pages/generate.py")
    if studio.may_delete(record, me.name) and remove.toggle("Delete...", key="detail-delete-arm"):
        st.warning("This removes the image, its thumbnail and its record for everyone.")
        if st.button("Delete for good", type="primary", key="detail-delete"):
            try:
                studio.delete_image(key, me.name)
            except ImagegenError as exc:
                st.error(widgets.plain(exc.message))
            else:
                state.pop("gallery_open", None)
                st.rerun()


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
    else:
        st.info("No image matches these filters.")
else:
    total = studio.count_images(filters)
    st.caption(f"{total:,} image{'' if total == 1 else 's'}")
    columns = st.columns(4)
    for index, item in enumerate(items):
        with columns[index % 4]:
            picture = studio.image_url(item) or widgets.stored_bytes(studio.thumbnail_bytes, item)
            if picture is not None:
                st.image(picture, width="stretch")
            st.caption(f"{widgets.plain(item['prompt'][:60])} · {widgets.plain(item['user'])}")
            if st.button("Open", key=f"open-{item['key']}"):
                state["gallery_open"] = item["key"]
    if next_token and st.button("Load more"):
        state["gal_pages"].append(next_token)
        st.rerun()

if state.get("gallery_open"):
    detail(state.pop("gallery_open"))
