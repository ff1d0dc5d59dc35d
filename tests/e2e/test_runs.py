"""Runs in Chromium: prompts typed, every request listed and priced, the run started all or nothing, its
progress brought into view and followed to the board that holds its results."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import settled, shot

pytestmark = pytest.mark.e2e


@pytest.mark.server_env(IMAGEGEN_OFFLINE_DELAY="0", IMAGEGEN_DAILY_QUOTA="10")
def test_a_run_is_previewed_started_followed_and_its_results_are_on_its_board(server, page):
    page.goto(server.url + "/runs")
    page.get_by_role("heading", name="Runs", exact=True).wait_for()
    settled(page)
    page.get_by_role("textbox", name="Prompts, one per line").fill("a red fox in snow\na lighthouse at dawn")
    page.get_by_role("textbox", name="Prompts, one per line").press("Control+Enter")
    start = page.get_by_role("button", name="Start the run of 2 images")
    start.wait_for()
    page.get_by_text("You have 10 images left today").wait_for()
    settled(page)
    shot(page, "run-planned")
    page.locator(".st-key-run-figures").evaluate("figures => figures.scrollIntoView({ block: 'start' })")
    shot(page, "run-plan")  # the figures, the list and the choice, as the user reads them before spending
    page.get_by_text("All or nothing: reserve the whole run now").click()
    settled(page)
    start.click()
    box = page.locator(".st-key-run-progress")
    box.get_by_text("2 of 2 requests settled: 2 done").wait_for(timeout=60_000)
    expect(box).to_be_in_viewport()
    shot(page, "run-finished")
    box.get_by_role("link", name="Open its board (2 images so far)").click()
    page.get_by_role("heading", name="Run of 2").wait_for()
    page.get_by_text("a lighthouse at dawn").first.wait_for()
    page.get_by_text("a red fox in snow").first.wait_for()
