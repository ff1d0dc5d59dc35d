"""The writing Director's speed a person feels: from the click on "Write it up" to its first words in the
page and to the whole rewrite shown for editing, in Chromium against a real studio server, and the same
through the engine alone; both over the real SDK's Responses API against the fake OpenAI server on
127.0.0.1 writing at a fixed pace (a piece of a few tokens every DELAY seconds, its first piece at once:
a model's time to its first token is not ours to count). And a rewrite asked for again, which the team's
cache answers without a call.

Before: the rewrite was asked for whole (no stream), so its first words were its last: the page showed
nothing until the model had finished. Now the words stream into the page as they are written."""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from _common import median_seconds, table, verdict

from imagegen import Settings, Studio
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENS, StreamlitServer, server_agrees, settled
from tests.e2e.test_writing import WRITING_AND_SHOWING
from tests.fakes import responses_contract
from tests.fakes.openai_server import FakeImagesAPI

DELAY = 0.05  # seconds between the fake's streamed pieces
REPEAT = 7
PROMPTS = ["a red fox in the snow", "a lighthouse at dusk", "a bowl of ramen", "an old tram in Lisbon"]


def _studio(api: FakeImagesAPI, folder: Path) -> Studio:
    return Studio(
        Settings(
            data_dir=folder,
            provider="openai",
            openai_api_key="sk-test",
            openai_base_url=api.base_url,
            daily_budget_usd=Decimal("50"),
        )
    )


def _fake_writing_time(api: FakeImagesAPI) -> float:
    """How long the fake itself spent writing the last answer: its pieces times the pace."""
    body = [r for r in api.requests if r["_path"].endswith("/responses")][-1]
    return math.ceil(len(responses_contract.written(body)) / responses_contract.DELTA_CHARS) * DELAY


def measure_streamed(studio: Studio, api: FakeImagesAPI, words: str) -> tuple[float, float, float]:
    """(first words, whole rewrite, the fake's own writing time) for one new rewrite."""
    first: list[float] = []
    start = time.perf_counter()
    studio.rewrite(
        words, "cinematic", "ann", on_text=lambda _: first.append(time.perf_counter()) if not first else None
    )
    whole = time.perf_counter() - start
    return first[0] - start, whole, _fake_writing_time(api)


def measure_whole(studio: Studio, words: str) -> float:
    """The old way: no stream, so the first words arrive with the last."""
    start = time.perf_counter()
    studio.rewrite(words, "photo", "ann")
    return time.perf_counter() - start


def in_the_page(page, url: str, words: str) -> tuple[float, float]:
    """(click to the first words in the status box, click to the whole rewrite in its editable box)."""
    page.goto(url)
    page.get_by_role("textbox", name="Prompt").fill(words)
    server_agrees(page, words)
    settled(page)
    start = time.perf_counter()
    page.get_by_role("button", name="Write it up").click()
    page.wait_for_function(WRITING_AND_SHOWING, arg=words, polling="raf")
    first = time.perf_counter() - start
    page.locator(".st-key-write-up").wait_for()
    return first, time.perf_counter() - start


def browser_figures(api: FakeImagesAPI, folder: Path) -> list[tuple[float, float]]:
    from playwright.sync_api import sync_playwright

    server = StreamlitServer(
        folder / "served", OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=api.base_url, IMAGEGEN_DAILY_BUDGET_USD="50"
    )
    server.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_context(**SCREENS["desktop"]).new_page()
            page.set_default_timeout(60_000)
            figures = [in_the_page(page, server.url, f"{PROMPTS[i % 4]} in the page {i}") for i in range(REPEAT)]
            browser.close()
    finally:
        server.stop()
    return figures


def main() -> None:
    api = FakeImagesAPI().start()
    api.text_delay = DELAY
    try:
        with tempfile.TemporaryDirectory() as scratch:
            studio = _studio(api, Path(scratch))
            streamed = [measure_streamed(studio, api, f"{PROMPTS[i % 4]} #{i}") for i in range(REPEAT)]
            before = [measure_whole(studio, f"{PROMPTS[i % 4]} #{i}") for i in range(REPEAT)]
            cached = median_seconds(lambda: studio.rewrite(f"{PROMPTS[0]} #0", "cinematic", "ann"), 50)
            paged = browser_figures(api, Path(scratch))
    finally:
        api.stop()
    first = statistics.median(s[0] for s in streamed)
    whole = statistics.median(s[1] for s in streamed)
    writing = statistics.median(s[2] for s in streamed)
    then = statistics.median(before)
    table(
        f"Write it up, against the fake writing a piece every {DELAY * 1000:.0f} ms (median of {REPEAT})",
        [
            ("the fake's own writing time", f"{writing * 1000:.0f} ms"),
            ("click to first words, now (streamed)", f"{first * 1000:.0f} ms"),
            ("click to whole rewrite, now", f"{whole * 1000:.0f} ms ({(whole - writing) * 1000:.0f} ms ours)"),
            ("click to first words, before (whole answer)", f"{then * 1000:.0f} ms"),
            ("first words: before / now", f"{then / first:.1f}x sooner"),
            ("the same rewrite again (the team's cache)", f"{cached * 1000:.2f} ms"),
        ],
    )
    page_first = statistics.median(p[0] for p in paged)
    page_whole = statistics.median(p[1] for p in paged)
    table(
        f"The same in the page: desktop Chromium, a real studio server (median of {REPEAT})",
        [
            ("click to first words in the status box", f"{page_first * 1000:.0f} ms"),
            ("click to the whole rewrite, editable", f"{page_whole * 1000:.0f} ms"),
            ("each (first, whole)", " ".join(f"{a:.2f}/{b:.2f}" for a, b in paged)),
        ],
    )
    verdict(first < writing / 2, "the first words show before half of the answer is written")
    verdict(page_first < writing / 2, "in the page too, the first words show before half of it is written")
    verdict(cached < 0.05, "a cached rewrite answers in under 50 ms")


if __name__ == "__main__":
    main()
