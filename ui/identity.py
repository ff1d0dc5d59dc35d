"""Who is using the studio: the identity provider's word (or the proxy's, with its secret), never a name."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

import streamlit as st

from imagegen import ImagegenError, Settings, check_proxy_headers, is_loopback
from ui import runtime


class Refused(Exception):
    """The request cannot be served to anyone: shown alone, with no navigation."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Viewer:
    #: the name rows are keyed by (stable for the account)
    name: str
    is_admin: bool
    #: what to show
    display: str = ""


def current_viewer(settings: Settings) -> Viewer | None:
    """The signed-in viewer; None when nobody is signed in (app.py then shows only the sign-in page).
    Raises Refused when the request did not come through the sign-in proxy or proves no identity."""
    if settings.auth == "local":
        local = runtime.studio().local_identity()
        return Viewer(local.user, local.is_admin, local.display)
    if settings.auth == "oidc":
        if not st.user.is_logged_in:
            return None
        claims = st.user.to_dict()
    else:
        _require_proxy_secret(settings)
        _require_single_headers(settings)
        claims = _proxy_claims()
    fingerprint = json.dumps(claims, sort_keys=True, default=str)
    known = st.session_state.get("signed_in")
    if known is not None and known[0] == fingerprint:
        return known[1]  # the same claims as this session's sign-in: no write on every rerun
    try:
        identity = runtime.studio().sign_in(claims)
    except ImagegenError as exc:
        raise Refused(exc.message) from exc
    signed_in = Viewer(identity.user, identity.is_admin, identity.display)
    st.session_state["signed_in"] = (fingerprint, signed_in)
    return signed_in


def _require_proxy_secret(settings: Settings) -> None:
    sent = st.context.headers.get(settings.proxy_secret_header) or ""
    if not hmac.compare_digest(sent.encode(), settings.proxy_secret.encode()):
        raise Refused("This studio answers only through the company's sign-in proxy. Open it from its usual address.")


def _require_single_headers(settings: Settings) -> None:
    mapping = st.get_option("server.trustedUserHeaders") or {}
    mapping = mapping if isinstance(mapping, dict) else {}
    email_header = next((name for name, key in mapping.items() if key == "email"), "")
    names = [*mapping, settings.proxy_secret_header]
    try:
        check_proxy_headers(
            {name: st.context.headers.get_all(name) for name in names},
            list(mapping),
            settings.proxy_secret_header,
            email_header,
        )
    except ImagegenError as exc:
        raise Refused(exc.message) from exc


def _proxy_claims() -> dict[str, object]:
    # The proxy vouched for these (its secret came with them): its email is verified by its sign-in.
    email = str(st.user.get("email") or "")
    if not email:
        raise Refused(
            "No user identity reached the studio. Behind an SSO proxy, map its user header in "
            "`.streamlit/config.toml` under `server.trustedUserHeaders` (see the README)."
        )
    return {
        "iss": "proxy",
        "sub": email.lower(),
        "email": email,
        "email_verified": True,
        "name": st.user.get("name") or email,
        "groups": st.user.get("groups") or "",
    }


def sign_in_page() -> None:
    st.title("imagegen")
    st.write("Sign in with your company account to generate images.")
    st.button("Sign in", on_click=st.login, type="primary")


def exposed_local_mode(settings: Settings) -> bool:
    """Local mode makes every visitor the same admin: fine on this machine only."""
    return settings.auth == "local" and not is_loopback(str(st.get_option("server.address") or ""))


def viewer() -> Viewer:
    """The viewer app.py resolved for this run.

    Streamlit runs a page script without app.py when a server's very first request is a deep link and a
    `pages/` folder exists; then app.py is run first, and it comes back to the page asked for.
    """
    if "viewer" not in st.session_state:
        # The query (a share link's ?image=) is kept too: switching to app.py drops it from the address.
        st.session_state["resume_page"] = (_calling_page(), st.query_params.to_dict())
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
