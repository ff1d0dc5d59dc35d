"""imagegen: the entry point. Who the user is, and the pages they may open."""

import streamlit as st

from ui import runtime, widgets
from ui.identity import current_viewer

st.set_page_config(page_title="imagegen", page_icon=":frame_with_picture:", layout="wide")

settings = runtime.settings()
viewer = current_viewer(settings)
st.session_state["viewer"] = viewer

pages = {
    "pages/generate.py": st.Page("pages/generate.py", title="Generate", icon=":material/brush:", default=True),
    "pages/gallery.py": st.Page("pages/gallery.py", title="Gallery", icon=":material/photo_library:"),
}
if viewer.is_admin:
    pages["pages/admin.py"] = st.Page("pages/admin.py", title="Admin", icon=":material/monitoring:")

with st.sidebar:
    st.caption(f"Signed in as **{widgets.plain(viewer.name)}**" + (" (admin)" if viewer.is_admin else ""))
    if settings.provider == "offline":
        st.info("Offline mode: images are local placeholders at $0. Set OPENAI_API_KEY for real renders.")
    if settings.auth == "oidc":
        st.button("Sign out", on_click=st.logout)

current = st.navigation(list(pages.values()))
resume = st.session_state.pop("resume_page", "")
if resume in pages:
    st.switch_page(pages[resume])
current.run()
