"""imagegen: the entry point. Who the user is, and the pages they may open."""

import streamlit as st

from imagegen import SettingsError
from ui import notify, runtime, widgets
from ui.identity import Refused, current_viewer, exposed_local_mode, sign_in_page

st.set_page_config(page_title="imagegen", page_icon=":frame_with_picture:", layout="wide")


def refusal_page(message: str):
    def refusal() -> None:
        st.error(message)

    return refusal


def alone(page) -> None:
    """Show one page with no navigation at all (not even Streamlit's listing of the pages/ folder)."""
    st.session_state.pop("viewer", None)
    st.navigation([st.Page(page, title="imagegen", url_path="welcome")], position="hidden").run()
    st.stop()


try:
    settings = runtime.settings()
    viewer = current_viewer(settings)
except SettingsError as exc:
    alone(refusal_page(f"The studio is misconfigured: {exc.message}"))
except Refused as refused:
    alone(refusal_page(refused.message))
if viewer is None:
    alone(sign_in_page)
st.session_state["viewer"] = viewer

pages = {
    "pages/generate.py": st.Page("pages/generate.py", title="Generate", icon=":material/brush:", default=True),
    "pages/gallery.py": st.Page("pages/gallery.py", title="Gallery", icon=":material/photo_library:"),
    "pages/boards.py": st.Page("pages/boards.py", title="Boards", icon=":material/dashboard:"),
    "pages/runs.py": st.Page("pages/runs.py", title="Runs", icon=":material/playlist_play:"),
}
if viewer.is_admin:
    pages["pages/admin.py"] = st.Page("pages/admin.py", title="Admin", icon=":material/monitoring:")

with st.sidebar:
    st.caption(
        f"Signed in as **{widgets.plain(viewer.display or viewer.name)}**" + (" (admin)" if viewer.is_admin else "")
    )
    if exposed_local_mode(settings):
        st.warning(
            "Local mode on a shared address: every visitor is the same admin. Use IMAGEGEN_AUTH=oidc or proxy "
            "(see the README), or serve on 127.0.0.1."
        )
    if settings.provider == "offline":
        who = "Set OPENAI_API_KEY (see the README)" if viewer.is_admin else "Ask an admin to connect OpenAI"
        st.info(f"Offline mode: images are local placeholders at $0. {who} for real renders.")
    if settings.auth == "oidc":
        st.button("Sign out", on_click=st.logout)

widgets.page_style()
current = st.navigation(list(pages.values()))
# A page arrived at (from another page, a link or a reload) rather than rerun: a link in the address is
# followed again even if the same image was opened before.
st.session_state["arrived"] = st.session_state.get("page_shown") != current.url_path
st.session_state["page_shown"] = current.url_path
resume, query = st.session_state.pop("resume_page", ("", {}))
if resume in pages:
    st.switch_page(pages[resume], query_params=query or None)
with st.sidebar:
    notify.finished_elsewhere(runtime.studio(), viewer.name, on_generate_page=current.url_path == "")
current.run()
