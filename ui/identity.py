"""Who is using the studio, and whether they are an admin."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from imagegen import Settings


@dataclass(frozen=True)
class Viewer:
    name: str
    is_admin: bool


def current_viewer(settings: Settings) -> Viewer:
    """The signed-in user; stops the page with a sign-in prompt when there is none."""
    if settings.auth == "local":
        return Viewer(settings.local_user, True)
    if settings.auth == "oidc":
        if not st.user.is_logged_in:
            st.title("imagegen")
            st.write("Sign in with your company account to generate images.")
            st.button("Sign in", on_click=st.login, type="primary")
            st.stop()
        name = str(st.user.get("email") or st.user.get("name") or "")
    else:
        name = str(st.user.get("email") or st.user.get("name") or st.user.get("user") or "")
    if not name:
        st.error(
            "No user identity reached the studio. Behind an SSO proxy, map its user header in "
            "`.streamlit/config.toml` under `server.trustedUserHeaders` (see the README)."
        )
        st.stop()
    return Viewer(name, settings.is_admin(name))


def viewer() -> Viewer:
    """The viewer app.py resolved for this run.

    Streamlit runs a page script without app.py when a server's very first request is a deep link and a
    `pages/` folder exists; then app.py is run first, and it comes back to the page asked for.
    """
    if "viewer" not in st.session_state:
        st.session_state["resume_page"] = _calling_page()
        st.switch_page("app.py")
    return st.session_state["viewer"]


def _calling_page() -> str:
    import inspect

    for frame in inspect.stack():
        path = frame.filename.replace("\\", "/")
        if "/pages/" in path:
            return "pages/" + path.rsplit("/pages/", 1)[1]
    return ""


def require_admin() -> Viewer:
    """Pages call this first: the navigation hides admin pages, and this refuses a direct visit."""
    me = viewer()
    if not me.is_admin:
        st.error("Only admins may open this page.")
        st.stop()
    return me
