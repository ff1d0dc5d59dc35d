"""Logos and animations in Chromium: a logo made from a hostile SVG is shown as a drawn image, nothing in it
runs and nothing is fetched from anywhere but the studio; an animation plays in the detail."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from imagegen import GenerationRequest, Settings, Studio
from tests.e2e.conftest import LAPTOP_ONLY, dialog_image_drawn, gallery_tiles, settled, shot
from tests.fakes.openai_server import FakeImagesAPI

pytestmark = pytest.mark.e2e


def hostile_logo(data_dir) -> str:
    """A logo kept from an answer full of scripts, handlers and links, through the real SDK; its key."""
    fake = FakeImagesAPI().start()
    try:
        fake.default = "hostile_svg"
        settings = Settings(
            data_dir=data_dir,
            provider="openai",
            openai_api_key="sk-test",
            openai_base_url=fake.base_url,
            daily_budget_usd=Decimal("5"),
        )
        request = GenerationRequest("a red dot logo", model="gpt-image-2.6-flare", quality="low", output_format="svg")
        return Studio(settings).generate(request, "ann").image_key
    finally:
        fake.stop()


def open_newest(page, url: str):
    """The gallery's newest image opened in its detail, drawn: the dialog."""
    page.goto(url + "/gallery")
    tile = gallery_tiles(page).first
    tile.wait_for()
    settled(page)
    tile.click()
    dialog_image_drawn(page)
    return page.get_by_role("dialog")


@LAPTOP_ONLY  # what a hostile file can do does not depend on the screen
def test_a_logo_from_a_hostile_svg_runs_nothing_fetches_nothing_and_shows_as_an_image(server, page):
    hostile_logo(server.log.parent / "data")
    own = urlsplit(server.url).netloc
    elsewhere, alerts = [], []
    page.on("request", lambda r: elsewhere.append(r.url) if urlsplit(r.url).netloc not in (own, "") else None)
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    dialog = open_newest(page, server.url)
    expect(dialog.get_by_text("Made safe before it was kept")).to_be_visible()
    expect(dialog.get_by_role("button", name="Download PNG")).to_be_visible()
    image = dialog.locator("[data-testid='stImage'] img").first
    assert image.get_attribute("alt").startswith("Image: a red dot logo")
    assert not image.get_attribute("src").endswith(".svg")
    # the drawing is on the page only as pixels: no document of it, no element of it, nothing it named
    assert page.locator("svg circle[fill='#e33'], foreignObject, iframe[src*='evil']").count() == 0
    assert page.evaluate("document.documentElement.outerHTML").count("evil.example") == 0
    shot(page, f"logo-detail-{page.screen_name}")
    assert alerts == [] and elsewhere == []


@pytest.mark.parametrize("page", ["desktop"], indirect=True)
def test_an_animation_plays_in_the_detail_with_its_frames_said(server, page):
    studio = Studio(Settings(data_dir=server.log.parent / "data", offline_delay=0))
    studio.generate(GenerationRequest("a spinner", output_format="gif", frame_count=6, size="256x256"), "ann")
    dialog = open_newest(page, server.url)
    expect(dialog.get_by_text("Animation: 6 frames, looping.")).to_be_visible()
    source = dialog.locator("[data-testid='stImage'] img").first.get_attribute("src")
    assert source.endswith(".gif"), source  # served as the animation itself, which the browser plays
