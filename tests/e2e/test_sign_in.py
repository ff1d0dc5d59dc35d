"""Signing in for real: Chromium, the studio and an independent OpenID Connect provider on 127.0.0.1; and
an SSO proxy's headers, accepted only with the proxy's secret."""

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import free_port, wait_for_port
from tests.e2e.appending_proxy import appending_proxy
from tests.e2e.conftest import LAPTOP_ONLY, StreamlitServer, go_to, open_sidebar, shot

pytestmark = pytest.mark.e2e
USERS = [
    {"sub": "ann-1", "email": "ann@example.com", "email_verified": True, "name": "Ann Admin"},
    {"sub": "bob-1", "email": "bob@example.com", "email_verified": True, "name": "Bob"},
    {"sub": "eve-1", "email": "ann@example.com", "email_verified": False, "name": "ann@example.com"},
]


@pytest.fixture
def identity_provider() -> Iterator[str]:
    port = free_port()
    claims = [arg for user in USERS for arg in ("--user-claims", json.dumps(user))]
    process = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "-p", str(port), *claims],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def oidc_server(tmp_path, identity_provider) -> Iterator[StreamlitServer]:
    port = free_port()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a-cookie-secret-for-the-tests-only"\n'
        'client_id = "imagegen"\n'
        'client_secret = "imagegen-secret"\n'
        f'server_metadata_url = "{identity_provider}/.well-known/openid-configuration"\n'
    )
    server = StreamlitServer(
        tmp_path / "data",
        args=("--secrets.files", str(secrets)),
        IMAGEGEN_AUTH="oidc",
        IMAGEGEN_ADMINS="ann@example.com",
        IMAGEGEN_OFFLINE_DELAY="0",
    )
    server.port, server.url = port, f"http://127.0.0.1:{port}"
    server.start()
    try:
        yield server
    finally:
        server.stop()


def sign_in(page, server, subject: str) -> None:
    page.goto(server.url)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=subject, exact=True).click()  # the provider's own page
    page.get_by_text("Signed in as").wait_for()


@LAPTOP_ONLY  # a sign-in's redirects are the same on any screen
def test_oidc_sign_in_admin_and_non_admin_and_sign_out(oidc_server, page):
    page.goto(oidc_server.url)
    page.get_by_role("button", name="Sign in").wait_for()
    shot(page, "sign-in")
    page.wait_for_timeout(500)
    # no navigation, not even the pages/ folder's
    assert page.locator("[data-testid='stSidebarNav'], [data-testid='stSidebar']").count() == 0
    for name in ("Generate", "Gallery", "Admin", "app", "admin", "gallery", "generate"):
        assert page.get_by_role("link", name=name, exact=True).count() == 0

    sign_in(page, oidc_server, "ann-1")
    assert "Ann Admin" in page.get_by_text("Signed in as").inner_text()
    go_to(page, "Admin")
    page.get_by_text("Spent today").wait_for()

    open_sidebar(page)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()  # the provider ends its session too
    page.get_by_role("button", name="Sign in").wait_for()
    page.goto(oidc_server.url + "/admin")
    page.get_by_role("button", name="Sign in").wait_for()
    assert page.get_by_text("Spent today").count() == 0

    sign_in(page, oidc_server, "bob-1")
    assert page.get_by_role("link", name="Admin").count() == 0
    page.goto(oidc_server.url + "/admin")
    page.get_by_text("Signed in as").wait_for()
    page.wait_for_timeout(1000)
    assert page.get_by_text("Spent today").count() == 0


@LAPTOP_ONLY  # the server's refusal, the same on any screen
def test_an_unverified_email_equal_to_the_admins_gets_no_admin_page(oidc_server, page):
    sign_in(page, oidc_server, "eve-1")
    assert "(admin)" not in page.get_by_text("Signed in as").inner_text()
    assert page.get_by_role("link", name="Admin").count() == 0


PROXY_SECRET = "the-proxy-secret-for-tests"
BEHIND_A_PROXY = {
    "IMAGEGEN_AUTH": "proxy",
    "IMAGEGEN_PROXY_SECRET": PROXY_SECRET,
    "IMAGEGEN_ADMINS": "ann@example.com",
    "IMAGEGEN_OFFLINE_DELAY": "0",
    "STREAMLIT_SERVER_TRUSTED_USER_HEADERS": '{"X-Forwarded-Email": "email"}',
}


@pytest.mark.server_env(**BEHIND_A_PROXY)
def test_a_proxy_identity_counts_only_with_the_proxys_secret(server, browser):
    forged = browser.new_context(extra_http_headers={"X-Forwarded-Email": "ann@example.com"})
    page = forged.new_page()
    page.goto(server.url)
    page.get_by_text("only through the company's sign-in proxy").wait_for()
    assert page.get_by_role("link", name="Admin").count() == 0
    forged.close()
    proxied = browser.new_context(
        extra_http_headers={"X-Forwarded-Email": "ann@example.com", "X-Imagegen-Proxy-Secret": PROXY_SECRET}
    )
    page = proxied.new_page()
    page.goto(server.url)
    page.get_by_text("Signed in as").wait_for()
    assert "ann@example.com" in page.get_by_text("Signed in as").inner_text().replace("\u2060", "")
    page.get_by_role("link", name="Admin").wait_for()
    proxied.close()


@pytest.mark.server_env(**BEHIND_A_PROXY)
def test_behind_a_proxy_that_appends_its_header_the_client_cannot_choose_who_it_is(server, browser):
    real = {"X-Forwarded-Email": "bob@example.com", "X-Imagegen-Proxy-Secret": PROXY_SECRET}
    with appending_proxy(server.port, real) as address:
        forged = browser.new_context(extra_http_headers={"X-Forwarded-Email": "ann@example.com"})
        page = forged.new_page()
        page.goto(address)
        page.get_by_text("sent X-Forwarded-Email more than once").wait_for()
        assert page.get_by_role("link", name="Admin").count() == 0
        assert page.get_by_text("Signed in as").count() == 0
        forged.close()
        honest = browser.new_context()
        page = honest.new_page()
        page.goto(address)
        page.get_by_text("Signed in as").wait_for()
        assert "bob@example.com" in page.get_by_text("Signed in as").inner_text().replace("\u2060", "")
        assert page.get_by_role("link", name="Admin").count() == 0
        honest.close()
