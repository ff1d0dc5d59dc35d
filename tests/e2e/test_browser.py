"""End to end: a person in Chromium, against `streamlit run` on a free port."""

import io
import os
import re
import signal
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from imagegen import GenerationRequest, Settings, Studio
from tests.e2e.conftest import (
    LAPTOP_ONLY,
    SCREENS,
    dialog_image_drawn,
    gallery_tiles,
    go_to,
    on_phone,
    server_agrees,
    settled,
    shot,
)

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


@LAPTOP_ONLY  # a session's drafts are kept the same on any screen
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
    server_agrees(page, "a lighthouse at dusk")  # the price and the button follow the server's answer
    shot(page, "generate-preview")

    prompt_box(page).press("Control+Enter")  # the keyboard shortcut generates
    page.get_by_text("◐ Rendering").first.wait_for()
    page.get_by_role("button", name="Generate another").wait_for()
    rendering = page.get_by_text("◐ Rendering").first.bounding_box()
    assert rendering["y"] + rendering["height"] <= page.viewport_size["height"]  # in view, no scrolling
    shot(page, "generate-rendering")
    # Navigate away mid-render, then come back: the job went on without the page.
    go_to(page, "Gallery")
    go_to(page, "Generate")
    page.get_by_text("Latest result").wait_for(timeout=30_000)
    assert prompt_box(page).input_value() == "a lighthouse at dusk"  # the prompt came back too
    page.locator("[data-testid='stImage'] img").first.wait_for()
    assert page.get_by_text(re.compile("Images left")).count() >= 1
    assert "4 / 5" in page.locator("[data-testid='stMetric']").nth(1).inner_text()
    shot(page, "generate-result")


@LAPTOP_ONLY  # a download and a form filled from a record do not depend on the screen
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
    gallery_tiles(page).last.click()
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
                studio._engine.ledger.reserve(
                    ledger_id=rid,
                    user=user,
                    n=1,
                    estimated_micros=cost,
                    now=now - timedelta(days=day),
                    details={"model": model, "preset": ["photo", "logo", "anime"][index], "quality": "medium"},
                )
                studio._engine.ledger.commit(
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
    go_to(page, "Gallery")
    page.get_by_text("Your image is ready: a fox on the move").wait_for(timeout=20_000)
    shot(page, "toast")


@pytest.mark.server_env(IMAGEGEN_OFFLINE_DELAY="3")
def test_the_preview_while_typing_and_the_render_after_the_click_are_in_view(server, page):
    page.goto(server.url)
    type_prompt(page, "a lighthouse")
    expect(preview(page)).to_be_in_viewport()  # the preview is in view while typing, on a phone too
    prompt_box(page).press("Control+Enter")
    # Whole, not cut by the bottom edge; asked again as the status is redrawn by each poll (an element read
    # once may be the one a poll has just replaced).
    expect(page.get_by_text("◐ Rendering").first).to_be_in_viewport(ratio=1)
    shot(page, "render-in-view")


@LAPTOP_ONLY  # the preview's keys and the server's answers race alike on any screen
def test_typing_fast_clearing_and_typing_again_keeps_the_page_whole(server, page):
    """Each key reruns the composer; reruns cut short by the next key once left Streamlit's page blank (a
    nested fragment). The page fixture fails the test on any error the page reports."""
    page.goto(server.url)
    for round_ in range(8):
        prompt_box(page).fill("")
        text = f"a lighthouse {round_} at dusk"
        prompt_box(page).press_sequentially(text, delay=20)
        preview_shows(page, text + ",")


@LAPTOP_ONLY  # the same component draws the preview on any screen
def test_the_preview_follows_each_key_in_the_browser_even_while_the_server_is_stopped(server, page):
    page.goto(server.url)
    type_prompt(page, "a fox")
    server_agrees(page, "a fox")
    os.kill(server.process.pid, signal.SIGSTOP)  # no rerun can answer a key now
    try:
        prompt_box(page).press_sequentially(" in Soft Natural Light", delay=20)
        preview_shows(page, "a fox in Soft Natural Light,")
        added = preview(page).locator("mark").all_inner_texts()
        assert "professional photograph" in added and "soft natural light" not in added  # written already
        prompt_box(page).fill("")
        page.get_by_text("Type a prompt: the Director's expanded version appears here as you type.").wait_for()
        prompt_box(page).fill("a fox in Soft Natural Light")
        preview_shows(page, "a fox in Soft Natural Light,")
        shown = preview(page).inner_text()
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    server_agrees(page, "a fox in Soft Natural Light")
    assert preview(page).inner_text() == shown  # what the browser drew is what the server will send
    assert "7 keywords added by the Director" in page.locator(".directed-caption").inner_text()


def choose(page, label: str, option: str) -> None:
    """Pick an option of a select box: a click on a laptop, a tap on a phone."""
    box, item = page.get_by_role("combobox", name=label), page.get_by_role("option", name=option, exact=True)
    if on_phone(page):
        box.tap()
        item.tap()
    else:
        box.click()
        item.click()
    page.wait_for_function(f"[...document.querySelectorAll('input[role=combobox]')].some(e => e.value === {option!r})")


def test_every_setting_survives_a_page_switch_and_a_result_of_two_fits_its_column(server, page):
    page.goto(server.url)
    type_prompt(page, "two foxes")
    page.get_by_role("spinbutton", name="Images").fill("2")
    page.get_by_role("spinbutton", name="Images").press("Enter")
    choose(page, "Style preset", "Anime")
    choose(page, "Size", "1536x1024")
    preview_shows(page, "two foxes, anime")
    page.wait_for_timeout(300)  # a person's pause before moving on
    go_to(page, "Gallery")
    go_to(page, "Generate")
    assert page.get_by_role("combobox", name="Style preset").input_value() == "Anime"
    assert page.get_by_role("combobox", name="Size").input_value() == "1536x1024"
    assert page.get_by_role("spinbutton", name="Images").input_value() == "2"
    assert prompt_box(page).input_value() == "two foxes"
    page.get_by_role("button", name="Generate", exact=True).click()
    images = page.locator(".st-key-generate-results [data-testid='stImage'] img")
    images.nth(1).wait_for()
    width = page.viewport_size["width"]
    boxes = [images.nth(i).bounding_box() for i in range(2)]
    for box in boxes:
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, "a result runs past the window"
    first, second = boxes
    apart = first["x"] + first["width"] <= second["x"] or first["y"] + first["height"] <= second["y"]
    assert apart, "the two results overlap"
    shot(page, "result-of-two")


@LAPTOP_ONLY  # search, favourites, links and deletes do not depend on the screen
def test_gallery_search_favourite_share_and_delete(server, page, tmp_path):
    studio = Studio(Settings(data_dir=tmp_path / "data", offline_delay=0))
    for prompt in ("a red fox in snow", "a castle at night", "cats on a roof"):
        studio.generate(GenerationRequest(prompt), "ann")
    page.goto(server.url + "/gallery")
    page.get_by_text("3 images").wait_for()
    search = page.get_by_role("textbox", name="Search the prompts")
    search.fill("cat")
    search.press("Enter")
    page.get_by_text("1 image", exact=True).wait_for()  # "cat" finds "cats" by its stem
    search.fill("snow fox")
    search.press("Enter")
    page.get_by_text("a red fox in snow").first.wait_for()  # words in any order
    settled(page)
    expect(gallery_tiles(page)).to_have_count(1)  # the search's run, not one it cut short
    settled(page)
    gallery_tiles(page).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Favourite", exact=True).click()
    page.get_by_text("★ a red fox in snow").wait_for(state="attached")  # the rerun the star brings has drawn
    settled(page)
    link = dialog.get_by_role("textbox", name="Link to this image, for a teammate").input_value()
    assert "?image=" in link and "%2F" not in link  # the image by its id: no storage path
    assert dialog.get_by_role("switch", name="Favourite").is_checked()
    dialog.get_by_text("Delete...", exact=True).click()
    dialog.get_by_role("button", name="Delete for good").click()
    page.get_by_text("Deleted: a red fox in snow").wait_for()
    assert studio.history().items and len(studio.history().items) == 2
    page.goto(link)  # a teammate opens the link to an image that still exists
    studio_key = studio.history().items[0]["key"]
    page.goto(f"{server.url}/gallery?image={studio_key}")
    page.get_by_role("dialog").get_by_text(studio.history().items[0]["prompt"]).first.wait_for()
    dialog_image_drawn(page)
    if not on_phone(page):  # on a laptop the actions are under the picture, in view without scrolling
        actions = page.get_by_role("dialog").get_by_role("button", name="Edit").bounding_box()
        assert actions is not None and actions["y"] + actions["height"] <= 900 - 48  # clear of the bottom edge
    shot(page, "gallery-shared")


def test_dark_mode_follows_the_system_setting(server, browser):
    backgrounds = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(**SCREENS["desktop"], color_scheme=scheme)
        tab = context.new_page()
        try:
            tab.goto(server.url)
            tab.get_by_role("textbox", name="Prompt").wait_for()
            backgrounds[scheme] = tab.evaluate(
                "getComputedStyle(document.querySelector('.stApp')).backgroundColor.match(/\\d+/g).slice(0, 3)"
                ".map(Number).reduce((a, b) => a + b) / 3"
            )
            tab.screen_name = "desktop"
            shot(tab, f"generate-{scheme}")
        finally:
            context.close()
    assert backgrounds["light"] > 200 and backgrounds["dark"] < 60


NAMED_ROLES = r"(button|textbox|combobox|spinbutton|checkbox|switch|slider|radio|link|searchbox)"


def unnamed_controls(page) -> list[str]:
    """Every control in the accessibility tree that a screen reader would announce without a name."""
    tree = page.locator("body").aria_snapshot()
    return [line.strip() for line in tree.splitlines() if re.match(rf"\s*- {NAMED_ROLES}( \[|:|$)", line)]


@LAPTOP_ONLY  # a control's name is the same on any screen (axe scans the phone too)
def test_every_control_has_an_accessible_name(server, page, tmp_path):
    Studio(Settings(data_dir=tmp_path / "data", offline_delay=0)).generate(GenerationRequest("a named fox"), "ann")
    page.goto(server.url)
    type_prompt(page, "a named thing")
    assert unnamed_controls(page) == []
    for name in ("Gallery", "Admin"):
        go_to(page, name)
        page.wait_for_timeout(500)
        assert unnamed_controls(page) == [], name
    go_to(page, "Gallery")
    gallery_tiles(page).first.click()
    page.get_by_role("dialog").wait_for()
    assert unnamed_controls(page) == []


def test_edit_a_gallery_image_by_painting_a_mask_and_follow_its_lineage(server, page, tmp_path):
    studio = Studio(Settings(data_dir=tmp_path / "data", offline_delay=0))
    studio.generate(GenerationRequest("a red fox in snow", size="1536x1024"), "ann")
    page.goto(server.url + "/gallery")
    gallery_tiles(page).first.click()
    page.get_by_role("dialog").get_by_role("button", name="Edit", exact=True).click()
    page.get_by_role("heading", name="Generate").wait_for()
    page.get_by_text("Editing").first.wait_for()
    edit_button = page.get_by_role("button", name="Edit image", exact=True)

    page.get_by_text("Paint where to change").click()
    canvas = page.locator(".st-key-edit-panel canvas").last
    canvas.wait_for()
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box["x"] + box["width"] <= page.viewport_size["width"]  # the whole canvas is reachable, on a phone too
    page.get_by_role("textbox", name="What to change").fill("add a red scarf")
    page.get_by_text("Paint over the part to change").wait_for()  # nothing painted yet: says so
    assert edit_button.is_disabled()
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(12):
        page.mouse.move(x + step * 8, y + step * 4)
    page.mouse.up()
    page.wait_for_function("document.querySelector('.directed-prompt')?.innerText.startsWith('add a red scarf.')")
    page.wait_for_function(
        "!document.querySelector('[data-testid=\"stBaseButton-primary\"]')?.disabled", timeout=15_000
    )
    shot(page, "edit-painted")
    edit_button.click()
    page.get_by_text("Latest result").wait_for(timeout=30_000)
    page.get_by_role("button", name="Keep going").wait_for()
    shot(page, "edit-result")

    [edited] = [i for i in studio.history().items if i.get("inputs")]
    assert [i["role"] for i in edited["inputs"]] == ["image", "mask"]
    mask = Image.open(io.BytesIO(studio.input_bytes(edited, edited["inputs"][1]["key"])))
    assert mask.size == (1536, 1024) and mask.getchannel("A").getextrema() == (0, 255)  # painted, and not all

    page.get_by_role("link", name="Open in gallery").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Lineage").wait_for()
    dialog.get_by_role("button", name="Made from").click()
    dialog.get_by_text("a red fox in snow").first.wait_for()  # stepped back to the original
    dialog.get_by_role("button", name="Edited into").wait_for()
    shot(page, "edit-lineage")


@LAPTOP_ONLY  # stopping is the server's, on any screen (the seams test the upload on a phone)
def test_an_uploaded_image_is_edited_and_stop_really_stops(server, page, tmp_path):
    picture = tmp_path / "mine.png"
    Image.new("RGB", (600, 400), (10, 120, 200)).save(picture)
    page.goto(server.url)
    prompt_box(page).wait_for()
    page.get_by_text("Edit an image instead").click()
    page.locator("input[type=file]").first.set_input_files(str(picture))
    page.get_by_text("Editing").first.wait_for()
    page.get_by_role("textbox", name="What to change").fill("make it night")
    server_agrees(page, "make it night")  # the server has planned the edit (the browser drew the preview first)
    assert page.get_by_role("combobox", name="Size").input_value() == "As the image"
    page.get_by_role("button", name="Stop").click()
    prompt_box(page).wait_for()  # the prompt is a prompt again
    page.wait_for_timeout(1500)  # a rerun or two later, the upload has not started the edit again
    assert page.get_by_text("Editing").count() == 0


def test_a_markup_drawn_with_the_box_tool_guides_an_edit(server, page, tmp_path):
    studio = Studio(Settings(data_dir=tmp_path / "data", offline_delay=0))
    original = studio.generate(GenerationRequest("a kitchen", size="1024x1024"), "ann")
    page.goto(server.url + "/gallery")
    gallery_tiles(page).first.click()
    page.get_by_role("dialog").get_by_role("button", name="Edit", exact=True).click()
    page.get_by_text("Editing").first.wait_for()
    page.get_by_text("Draw on it to guide").click()
    tool = page.get_by_role("combobox", name="Tool")
    tool.click()
    for _ in range(2):  # Pen, Line, Box
        tool.press("ArrowDown")
    tool.press("Enter")
    page.wait_for_function("document.querySelector('input[aria-label=\"Tool\"]')?.value === 'Box'")
    canvas = page.locator(".st-key-edit-panel canvas").last
    canvas.wait_for()

    def draw_box(corner: float) -> None:
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + box["width"] * corner, box["y"] + box["height"] * corner)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * (corner + 0.3), box["y"] + box["height"] * (corner + 0.3), steps=12)
        page.mouse.up()

    draw_box(0.2)
    # The drawing reaches the server in a rerun of its own; on a loaded machine it can land just after the
    # prompt was typed. Type again (a new text, so a new rerun carries the drawing too) until the server has
    # planned the edit: the preview shows its answer and the button is enabled. The preview alone does not
    # say so: the browser draws it before any server answers. Under load a drag is sometimes not taken as a
    # box at all (the server never hears of a drawing; seen before this test's last change too): then a
    # second box is drawn.
    for attempt in range(3):
        if attempt and page.get_by_text("Draw arrows, circles or notes on the image").count():
            draw_box(0.4)
        typed = "make the boxed cup red" + " " * attempt
        page.get_by_role("textbox", name="What to change").fill(typed)
        try:
            server_agrees(page, typed, timeout=15_000)
            page.wait_for_function(
                "!document.querySelector('[data-testid=\"stBaseButton-primary\"]')?.disabled", timeout=15_000
            )
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    button = page.get_by_role("button", name="Edit image", exact=True)
    button.click()
    page.get_by_role("button", name="Keep going").wait_for(timeout=30_000)
    [edited] = [i for i in studio.history().items if i.get("inputs")]
    assert edited["parent_key"] == original.image_key
    assert [i["role"] for i in edited["inputs"]] == ["image", "markup"]
    drawn = Image.open(io.BytesIO(studio.input_bytes(edited, edited["inputs"][1]["key"])))
    low, high = drawn.getchannel("A").getextrema()
    assert drawn.size == (1024, 1024) and low == 0 and high > 0  # see-through, with the box on it


def test_a_share_link_opens_the_detail_for_the_very_first_visitor_of_a_fresh_server(server, page):
    studio = Studio(Settings(data_dir=server.log.parent / "data", offline_delay=0))
    key = studio.generate(GenerationRequest("a lighthouse in fog"), "ann").image_key
    # The server has served no page yet: this is its very first visitor, arriving by the link.
    page.goto(f"{server.url}/gallery?image={quote(key, safe='')}")
    page.get_by_role("dialog").get_by_text("a lighthouse in fog").first.wait_for()
    dialog_image_drawn(page)
    assert "image=" in page.url  # the address still names the image


def outline_of(page, locator) -> str:
    """The outline drawn around an element or the control it is part of, as the browser computes it."""
    return locator.evaluate(
        """element => { for (let node = element; node; node = node.parentElement) {
                           const style = getComputedStyle(node);
                           if (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
                               return style.outlineWidth + ' ' + style.outlineStyle; }
                        return 'none'; }"""
    )


def test_the_keyboards_place_is_ringed_on_the_prompt_and_the_select_boxes(server, page):
    page.goto(server.url)
    prompt_box(page).focus()
    assert outline_of(page, prompt_box(page)) == "2px solid"
    model = page.get_by_role("combobox", name="Model")
    model.focus()
    assert outline_of(page, model) == "2px solid"
