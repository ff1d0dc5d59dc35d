"""The writing Director in Chromium, through the real SDK against the strict fake: the rewrite is written
where the user looks, word by word, then shown with its additions marked, edited, and sent exactly."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import StreamlitServer, server_agrees, settled, shot
from tests.fakes.openai_server import FakeImagesAPI

pytestmark = pytest.mark.e2e

#: true while the status box is still writing and already shows the first of the user's words
WRITING_AND_SHOWING = """(words) => {
    const writing = [...document.querySelectorAll('summary')].some(s => s.textContent.includes('Writing it up'));
    const shown = [...document.querySelectorAll('[data-testid="stExpanderDetails"] p')]
        .some(p => p.textContent.startsWith(words));
    return writing && shown;
}"""


@pytest.fixture
def writing(tmp_path) -> Iterator[tuple[StreamlitServer, FakeImagesAPI]]:
    fake = FakeImagesAPI().start()
    fake.text_delay = 0.08  # a streamed piece every 80 ms: the answer takes about a second to write
    server = StreamlitServer(
        tmp_path / "data", OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake.base_url, IMAGEGEN_DAILY_BUDGET_USD="5"
    )
    server.start()
    yield server, fake
    server.stop()
    fake.stop()


def test_a_rewrite_is_written_in_view_marked_edited_and_sent_exactly(writing, page):
    server, fake = writing
    own = urlsplit(server.url).netloc
    elsewhere: list[str] = []
    page.on("request", lambda r: elsewhere.append(r.url) if urlsplit(r.url).netloc not in (own, "") else None)
    page.goto(server.url)
    prompt = page.get_by_role("textbox", name="Prompt")
    prompt.fill("a lighthouse at dusk")
    server_agrees(page, "a lighthouse at dusk")
    settled(page)
    page.get_by_role("button", name="Write it up").click()
    # while it is being written, the words already written are on the page, where the user is looking
    page.wait_for_function(WRITING_AND_SHOWING, arg="a lighthouse at dusk", timeout=30_000)
    expect(page.get_by_text("Writing it up...")).to_be_in_viewport()
    shot(page, "writing-streaming")
    written = page.locator(".st-key-write-up")
    written.wait_for(timeout=30_000)
    expect(written).to_be_in_viewport()
    marks = page.locator(".st-key-write-up-marked mark")
    expect(marks.first).to_be_visible()
    assert marks.first.get_attribute("title").startswith("added: ")
    expect(written.get_by_text("counted against the team budget")).to_be_visible()
    area = page.get_by_role("textbox", name="Written up: edit it, then use it")
    sent = area.input_value() + ", in sea fog"
    area.fill(sent)
    area.press("Tab")  # the text area hands its value over when it loses focus
    settled(page)
    shot(page, "writing-written-up")
    page.get_by_role("button", name="Use this prompt").click()
    server_agrees(page, sent)
    settled(page)
    page.get_by_role("button", name="Generate", exact=True).click()
    page.get_by_role("button", name="More like this").wait_for(timeout=60_000)
    images = [r for r in fake.requests if r["_path"].endswith("/images/generations")]
    assert [r["prompt"] for r in images] == [sent]  # exactly what was shown, nothing added after
    rewrites = [r for r in fake.requests if r["_path"].endswith("/responses")]
    assert len(rewrites) == 1 and rewrites[0]["stream"] is True
    assert elsewhere == []
