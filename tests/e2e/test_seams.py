"""Where one feature hands over to another: what an action starts is in view, focused when it waits for
typing, and lands where it says (a link to the gallery opens its image; a half-done edit comes back as an
edit, apart from the new image's prompt)."""

from __future__ import annotations

import pytest
from PIL import Image
from playwright.sync_api import expect

from imagegen import GenerationRequest, Settings, Studio
from tests.e2e.conftest import LAPTOP_ONLY, go_to, server_agrees, settled, shot

pytestmark = pytest.mark.e2e


def prompt_box(page, name: str = "Prompt"):
    return page.get_by_role("textbox", name=name)


def type_and_wait(page, text: str, name: str = "Prompt") -> None:
    """Type as a person does and wait until the server has planned it (its answer is in the preview)."""
    prompt_box(page, name).click()
    prompt_box(page, name).press_sequentially(text, delay=10)
    server_agrees(page, text)


def whole_in_view(locator) -> None:
    """In the viewport whole, not cut by an edge; asked again while the page redraws it."""
    expect(locator).to_be_in_viewport(ratio=1, timeout=20_000)


def result_edit_key(page) -> str:
    """The class naming the latest result's Edit button: it carries the job's id, so it tells results apart."""
    button = page.locator(".st-key-latest-result [class*='st-key-edit-']").first
    return next(c for c in button.get_attribute("class").split() if c.startswith("st-key-edit-"))


def studio_of(server) -> Studio:
    return Studio(Settings(data_dir=server.log.parent / "data", offline_delay=0))


@pytest.mark.server_env(IMAGEGEN_OFFLINE_DELAY="3")
def test_a_render_its_result_more_like_it_and_its_edit_each_come_into_view(server, page):
    page.goto(server.url)
    type_and_wait(page, "a lighthouse at dusk")
    page.get_by_role("button", name="Generate", exact=True).click()
    whole_in_view(page.get_by_text("◐ Rendering").first)
    result = page.locator(".st-key-latest-result")
    page.get_by_role("button", name="More like this").wait_for(timeout=30_000)
    whole_in_view(result)  # the image, its download and what to do next: not cut by the bottom edge
    shot(page, "seam-result-in-view")

    first_edit = result_edit_key(page)
    page.get_by_role("button", name="More like this").click()
    whole_in_view(page.get_by_text("◐ Rendering").first)  # the new render's progress, not the old result
    shot(page, "seam-more-like-this")
    # Not "Rendering is gone": the render is still saving then, the first result and its Edit still drawn, and
    # a click on that Edit is lost when the new result replaces it.
    page.locator(f".{first_edit}").wait_for(state="detached", timeout=30_000)
    settled(page)  # the run that draws the new result is over: its Edit button, not one it replaces

    page.get_by_role("button", name="Edit", exact=True).click()
    editing = page.locator(".st-key-edit-header")
    whole_in_view(editing)
    expect(prompt_box(page, "What to change")).to_be_focused()  # the user can type the change at once
    shot(page, "seam-edit-in-view")


def test_an_upload_starts_its_edit_in_view_with_the_box_to_type_in_focused(server, page, tmp_path):
    picture = tmp_path / "mine.png"
    Image.new("RGB", (900, 600), (10, 120, 200)).save(picture)
    page.goto(server.url)
    prompt_box(page).wait_for()
    page.get_by_text("Edit an image instead").click()
    page.locator("input[type=file]").first.set_input_files(str(picture))
    whole_in_view(page.locator(".st-key-edit-header"))
    expect(prompt_box(page, "What to change")).to_be_focused()
    page.keyboard.type("make it night")  # typed straight away, no click first
    expect(prompt_box(page, "What to change")).to_have_value("make it night")


@LAPTOP_ONLY
def test_open_in_gallery_opens_the_edited_image_with_its_lineage_each_time(server, page):
    studio = studio_of(server)
    original = studio.generate(GenerationRequest("a red fox in snow"), "ann")
    page.goto(server.url + "/gallery")
    page.get_by_role("button", name="a red fox in snow", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Edit", exact=True).click()
    type_and_wait(page, "add a red scarf", name="What to change")
    page.get_by_role("button", name="Edit image", exact=True).click()
    opener = page.get_by_role("link", name="Open in gallery")
    for visit in range(2):  # the second time, the same image was opened before: it opens again
        opener.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("add a red scarf").first.wait_for()
        dialog.get_by_text("Lineage").wait_for()
        dialog.get_by_role("button", name="Made from").wait_for()
        if visit == 0:
            shot(page, "seam-open-in-gallery")
            page.keyboard.press("Escape")
            dialog.wait_for(state="detached")
            go_to(page, "Generate")
    edited = [i for i in studio.history().items if i.get("parent_key") == original.image_key]
    assert len(edited) == 1


@LAPTOP_ONLY
def test_a_half_done_edit_comes_back_as_an_edit_and_the_new_prompt_as_it_was(server, browser, page):
    studio = studio_of(server)
    studio.generate(GenerationRequest("a kitchen at noon"), "ann")
    page.goto(server.url)
    type_and_wait(page, "a castle on a hill")
    go_to(page, "Gallery")
    page.get_by_role("button", name="a kitchen at noon", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Edit", exact=True).click()
    type_and_wait(page, "make it night", name="What to change")

    later = page.context.browser.new_context(viewport=page.viewport_size)  # a new session, as after a restart
    again = later.new_page()
    again.goto(server.url)
    expect(prompt_box(again, "What to change")).to_have_value("make it night")
    again.get_by_text("Editing").first.wait_for()
    again.get_by_role("button", name="Stop").click()
    expect(prompt_box(again)).to_have_value("a castle on a hill")  # the edit's words never became a prompt
    later.close()

    page.get_by_role("button", name="Stop").click()  # and in the first session too
    expect(prompt_box(page)).to_have_value("a castle on a hill")


@LAPTOP_ONLY
def test_the_share_link_is_copied_with_one_press_and_opens_the_image(server, page):
    studio = studio_of(server)
    key = studio.generate(GenerationRequest("a lighthouse in fog"), "ann").image_key
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page.goto(server.url + "/gallery")
    page.get_by_role("button", name="a lighthouse in fog", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Copy link").click()  # a button in sight, on a phone too: no hover
    dialog.get_by_text("Copied").wait_for()
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == f"{server.url}/gallery?image={studio.link_for(key)}"
    assert "%2F" not in link and len(link) < len(server.url) + 60  # short: no storage path in it
    shot(page, "seam-copy-link")
    teammate = page.context.new_page()
    teammate.goto(link)
    teammate.get_by_role("dialog").get_by_text("a lighthouse in fog").first.wait_for()


@LAPTOP_ONLY
def test_the_markup_canvas_leaves_its_toolbar_room_off_the_caption(server, page):
    studio_of(server).generate(GenerationRequest("a kitchen"), "ann")
    page.goto(server.url + "/gallery")
    page.get_by_role("button", name="a kitchen", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Edit", exact=True).click()
    page.get_by_text("Draw on it to guide").click()
    canvas = page.locator(".st-key-edit-panel canvas").last
    canvas.wait_for()
    settled(page)
    caption = page.get_by_text("Draw what you want").bounding_box()
    # The canvas's undo/redo/clear toolbar floats about 35 px above its top edge when hovered.
    assert canvas.bounding_box()["y"] - (caption["y"] + caption["height"]) >= 40
