"""A real studio server (`python -m ui.serve`, Streamlit inside) on a free port, driven by Debian's chromium through Playwright."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "artifacts"
#: the two screens every browser test runs on: a laptop, and a phone as Chromium emulates one (its user
#: agent, touch and pixel density, which Streamlit reads to close the sidebar after a page is chosen)
SCREENS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 3,
        "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
    },
}


#: for what does not depend on the screen (a session's drafts, a link, replicas, what the server refuses):
#: the laptop's only, to keep the suite's time for what the phone changes
LAPTOP_ONLY = pytest.mark.parametrize("page", ["desktop"], indirect=True)


class StreamlitServer:
    def __init__(self, data_dir: Path, *, args: tuple[str, ...] = (), **env: str) -> None:
        self.args = list(args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / "streamlit.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEGEN_", "OPENAI_", "STREAMLIT_"))}
        self.env.update(IMAGEGEN_DATA_DIR=str(data_dir), IMAGEGEN_LOCAL_USER="ann", **env)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ui.serve",
                "--server.port",
                str(self.port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                *self.args,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"streamlit did not become healthy:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture(params=list(SCREENS))
def page(browser, request) -> Iterator[object]:
    """A tab on a laptop's screen, then on a phone's: each test using it runs on both."""
    context = browser.new_context(**SCREENS[request.param], accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.screen_name = request.param
    broken: list[str] = []  # the page's own errors: a crash in the browser leaves a blank page behind
    tab.on("pageerror", lambda error: broken.append(str(error)))
    tab.on("console", lambda message: broken.extend(page_error(message)))
    yield tab
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:  # what the browser showed when the test gave up, for whoever reads CI
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"), full_page=True)
    context.close()
    assert broken == [], "the page reported errors"


IGNORED = ("Failed to load resource", "Client Error: Image source error", "The page that you have requested")


def page_error(message) -> list[str]:
    """A console message that says the page broke: a script error. Not a resource that failed to load
    (Streamlit probing a deep link's path for its health endpoint, an image replaced by a rerun before the
    browser fetched it, the test provider's stylesheet), nor Streamlit saying a deep link's page is not
    among those this visitor may open (signed out, say)."""
    if message.type != "error":
        return []
    if message.text.startswith(IGNORED):
        return []
    return [message.text]


def settled(page) -> None:
    """Wait until the script has finished its run and the page holds nothing of an earlier run. Until then a
    button may be one an earlier run drew for another image, and a click on it opens the wrong thing or
    nothing. (The text a test waited for can be an earlier run's too, left on the page when a rerun cut
    that run short.)"""
    page.wait_for_function(
        """() => document.querySelector("[data-testid='stApp']")?.dataset.testScriptState === 'notRunning'
                 && !document.querySelector("[data-stale='true']")"""
    )


def dialog_image_drawn(page) -> None:
    """Wait until the open dialog's picture has loaded and drawn, and the run is over: a screenshot taken
    before shows grey placeholders."""
    page.wait_for_function(
        """() => { const img = document.querySelector("[role='dialog'] [data-testid='stImage'] img");
                   return img !== null && img.complete && img.naturalWidth > 0; }"""
    )
    settled(page)


def on_phone(page) -> bool:
    return getattr(page, "screen_name", "") == "phone"


def open_sidebar(page) -> None:
    """On a phone the sidebar starts closed: open it as a person does (on a laptop it is open)."""
    if on_phone(page):
        page.get_by_role("button", name="Expand sidebar").click()
        page.get_by_role("button", name="Collapse sidebar").wait_for()


def go_to(page, name: str) -> None:
    """Choose a page in the sidebar as a person does; on a phone, open the sidebar first and see it close."""
    if on_phone(page):
        open_sidebar(page)
        page.get_by_role("link", name=name).click()
        page.get_by_role("button", name="Expand sidebar").wait_for()  # the sidebar closed again
    else:
        page.get_by_role("link", name=name).click()
    page.get_by_role("heading", name=name, exact=True).wait_for()


def server_env(item: pytest.Item) -> dict[str, str]:
    marker = item.get_closest_marker("server_env")
    return dict(marker.kwargs) if marker else {"IMAGEGEN_OFFLINE_DELAY": "0"}


class ServersAhead:
    """Every test has a server of its own, and a server takes 3-4 s to start: the next test's is started
    while this one runs, in a folder of its own, which that test's `tmp_path / "data"` then names."""

    def __init__(self, folders: pytest.TempPathFactory) -> None:
        self.folders = folders
        self.ahead: tuple[dict[str, str], StreamlitServer, threading.Thread, list[BaseException], Path] | None = None

    def start_ahead(self, env: dict[str, str]) -> None:
        data = self.folders.mktemp("server") / "data"
        data.mkdir()
        server, failed = StreamlitServer(data, **env), []
        starting = threading.Thread(target=_started, args=(server, failed), daemon=True)
        starting.start()
        self.ahead = (env, server, starting, failed, data)

    def take(self, env: dict[str, str], data: Path) -> StreamlitServer:
        """A running server with `env` whose data folder `data` names: the one started ahead, if it is one."""
        ahead, self.ahead = self.ahead, None
        if ahead is not None:
            ahead_env, server, starting, failed, ahead_data = ahead
            starting.join()
            if ahead_env == env and not failed:
                data.symlink_to(ahead_data, target_is_directory=True)
                return server
            server.stop()
        server = StreamlitServer(data, **env)
        server.start()
        return server

    def stop(self) -> None:
        if self.ahead is not None:
            self.ahead[2].join()
            self.ahead[1].stop()
            self.ahead = None


def _started(server: StreamlitServer, failed: list[BaseException]) -> None:
    try:
        server.start()
    except BaseException as exc:  # the test that would take it starts its own, and says why if that fails too
        failed.append(exc)


@pytest.fixture(scope="session")
def servers_ahead(tmp_path_factory) -> Iterator[ServersAhead]:
    ahead = ServersAhead(tmp_path_factory)
    yield ahead
    ahead.stop()


@pytest.fixture
def server(tmp_path, request, servers_ahead) -> Iterator[StreamlitServer]:
    running = servers_ahead.take(server_env(request.node), tmp_path / "data")
    items = request.session.items
    later = items[items.index(request.node) + 1 :]
    upcoming = next((item for item in later if "server" in getattr(item, "fixturenames", ())), None)
    if upcoming is not None:
        servers_ahead.start_ahead(server_env(upcoming))
    yield running
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(running.output())
    running.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / (f"phone-{name}.png" if on_phone(page) else f"{name}.png")
    page.screenshot(path=str(path), full_page=True)
    return path


def gallery_tiles(page):
    """The gallery tiles' buttons, each named by its image's prompt, in the grid's order."""
    return page.locator("[class*='st-key-tile-'] [data-testid='stBaseButton-tertiary']")


def server_agrees(page, text: str, timeout: float | None = None) -> None:
    """Wait until the preview shows the server's own result for `text` (it draws the server's when it has
    one for the text typed, and remembers what it drew)."""
    marker = json.dumps('"for":' + json.dumps(text))
    script = f"document.querySelector('.directed-view')?.dataset.signature?.includes({marker})"
    page.wait_for_function(script, timeout=timeout)
