"""End to end: a person in Chromium, against `streamlit run` on a free port."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from imagegen import GenerationRequest, Settings, Studio
from tests.e2e.conftest import shot

pytestmark = pytest.mark.e2e


def prompt_box(page):
    return page.get_by_role("textbox", name="Prompt")


def preview(page):
    return page.locator(".directed-prompt")


def preview_shows(page, text: str) -> None:
    page.wait_for_function(f"document.querySelector('.directed-prompt')?.innerText.startsWith({text!r})")


def type_prompt(page, text: str) -> None:
    """Type a prompt as a person does and wait until the Director's preview shows it."""
    prompt_box(page).click()
    prompt_box(page).press_sequentially(text, delay=10)
    preview_shows(page, text + ",")


@pytest.mark.server_env(IMAGEGEN_OFFLINE_DELAY="4")
def test_type_see_the_preview_generate_and_come_back_after_navigating_away(server, page):
    page.goto(server.url)
    prompt_box(page).click()
    prompt_box(page).press_sequentially("a lighthouse", delay=30)
    page.wait_for_function("document.querySelector('.directed-prompt')?.innerText.startsWith('a lighthouse,')")
    first = preview(page).inner_text()
    prompt_box(page).press_sequentially(" at dusk", delay=30)
    page.wait_for_function("document.querySelector('.directed-prompt')?.innerText.startsWith('a lighthouse at dusk,')")
    assert preview(page).inner_text() != first
    assert "professional photograph" in preview(page).inner_text()
    shot(page, "generate-preview")

    prompt_box(page).press("Control+Enter")  # the keyboard shortcut generates
    page.get_by_text("◐ Rendering").first.wait_for()
    page.get_by_role("button", name="Generate another").wait_for()
    rendering = page.get_by_text("◐ Rendering").first.bounding_box()
    assert rendering["y"] + rendering["height"] <= page.viewport_size["height"]  # in view, no scrolling
    shot(page, "generate-rendering")
    # Navigate away mid-render, then come back: the job went on without the page.
    page.get_by_role("link", name="Gallery").click()
    page.get_by_role("heading", name="Gallery").wait_for()
    page.get_by_role("link", name="Generate").click()
    page.get_by_text("Latest result").wait_for(timeout=30_000)
    assert prompt_box(page).input_value() == "a lighthouse at dusk"  # the prompt came back too
    page.locator("[data-testid='stImage'] img").first.wait_for()
    assert page.get_by_text(re.compile("Images left")).count() >= 1
    assert "4 / 5" in page.locator("[data-testid='stMetric']").nth(1).inner_text()
    shot(page, "generate-result")


def test_gallery_browse_open_download_and_use_the_settings(server, page, tmp_path):
    studio = Studio(Settings(data_dir=tmp_path / "data", offline_delay=0))
    for prompt, preset in (("a red fox in snow", "photo"), ("a castle", "pixel"), ("a teapot", "product")):
        studio.generate(GenerationRequest(prompt, preset=preset), "ann")
    page.goto(server.url + "/gallery")
    page.get_by_role("heading", name="Gallery").wait_for()
    page.get_by_text("3 images").wait_for()
    page.locator("[data-testid='stImage'] img").nth(2).wait_for()
    assert page.locator("[data-testid='stImage'] img").count() == 3
    shot(page, "gallery")
    page.get_by_role("button", name="Open").last.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("a red fox in snow").first.wait_for()
    with page.expect_download() as download:
        dialog.get_by_role("button", name="Download original").click()
    assert download.value.suggested_filename.endswith(".png")
    assert download.value.path().stat().st_size > 1000
    shot(page, "gallery-detail")
    dialog.get_by_role("button", name="Use these settings").click()
    page.get_by_role("heading", name="Generate").wait_for()
    page.wait_for_function("document.querySelector('.directed-prompt')?.innerText.startsWith('a red fox in snow,')")


def test_the_admin_page_charts_render(server, page, tmp_path):
    studio = Studio(Settings(data_dir=tmp_path / "data", offline_delay=0))
    for user in ("ann", "bob", "ann"):
        studio.generate(GenerationRequest("a lantern", preset="cinematic"), user)
    # Priced history over the last days, written through the ledger as real generations would be.
    now = datetime.now(UTC)
    models = [("gpt-image-2.6-flare", 31_000), ("gpt-image-2.6-sunburst", 63_000), ("gpt-image-2", 53_000)]
    for day in range(8):
        for index, (model, cost) in enumerate(models):
            for user in ("ann", "bob", "chen", "dara")[: 1 + (day + index) % 4]:
                rid = f"seed-{day}-{index}-{user}"
                studio.ledger.reserve(
                    request_id=rid,
                    user=user,
                    n=1,
                    estimated_micros=cost,
                    now=now - timedelta(days=day),
                    details={"model": model, "preset": ["photo", "logo", "anime"][index], "quality": "medium"},
                )
                studio.ledger.commit(
                    rid, actual_micros=cost - 1000 * index, timings_ms={"render": 9000 + 4000 * index + 300 * day}
                )
    page.goto(server.url + "/admin")
    page.get_by_role("heading", name="Admin").wait_for()
    page.get_by_text("Spend per day by model").wait_for()
    charts = page.locator("[data-testid='stVegaLiteChart']")
    charts.first.wait_for()
    page.wait_for_function(
        'document.querySelectorAll(\'[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg\').length >= 5'
    )
    assert charts.count() >= 5
    assert (
        page.locator("[data-testid='stMetric']").nth(1).inner_text().endswith("9")
    )  # 3 offline + 1 + 2 + 3 seeded today
    shot(page, "admin")


@pytest.mark.server_env(IMAGEGEN_OFFLINE_DELAY="3")
def test_a_render_that_ends_while_the_user_is_on_another_page_is_announced(server, page):
    page.goto(server.url)
    type_prompt(page, "a fox on the move")
    page.get_by_role("button", name="Generate", exact=True).click()
    page.get_by_text("◐ Rendering").first.wait_for()
    page.get_by_role("link", name="Gallery").click()
    page.get_by_text("Your image is ready: a fox on the move").wait_for(timeout=20_000)
    shot(page, "toast")


@pytest.mark.server_env(IMAGEGEN_OFFLINE_DELAY="3")
@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)])
def test_the_render_is_in_view_after_the_click_on_a_desktop_and_a_phone(server, browser, width, height):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(server.url)
        type_prompt(page, "a lighthouse")
        preview_box = preview(page).bounding_box()
        assert preview_box["y"] < height  # the preview is in view while typing, on a phone too
        prompt_box(page).press("Control+Enter")
        rendering = page.get_by_text("◐ Rendering").first
        rendering.wait_for()
        box = rendering.bounding_box()
        assert box["y"] + box["height"] <= height, f"the render is below the fold at {width}x{height}"
        shot(page, f"render-in-view-{width}")
    finally:
        context.close()
