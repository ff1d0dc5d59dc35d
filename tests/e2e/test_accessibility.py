"""Everyone can use the studio: axe-core, run in Chromium on every page (Generate, edit mode, the Gallery's
grid and detail, a board, Runs, Admin), on a laptop and a phone, in light and dark, finds no critical or serious violation."""

from __future__ import annotations

import json

import pytest

from imagegen import GenerationRequest, Settings, Studio
from tests.conftest import ROOT
from tests.e2e.conftest import dialog_image_drawn, gallery_tiles, settled

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: what fails the scan: what keeps someone from using a page (axe's "moderate" and "minor" are reported only)
BLOCKING = ("critical", "serious")
#: moderate in axe's terms, but ours to keep: a screen reader's outline of the page skips no level
ALSO_FAILING = ("heading-order",)


def violations(page) -> list[dict]:
    """The page's violations as axe-core finds them, with the elements each one is on."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: `make test` installs it (npm ci).")
    settled(page)
    page.add_script_tag(content=AXE.read_text())
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map(v => ({
               id: v.id, impact: v.impact, help: v.help,
               nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}))"""
    )
    return [v for v in found if v["impact"] in BLOCKING or v["id"] in ALSO_FAILING]


def scan(page, where: str, failures: dict[str, list[dict]]) -> None:
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        found = violations(page)
        if found:
            failures[f"{where} ({scheme})"] = found


def test_no_page_has_a_critical_or_serious_violation(server, page, tmp_path):
    studio = Studio(Settings(data_dir=tmp_path / "data", offline_delay=0))
    studio.set_palette("#1d3557 #e63946", by="me")
    studio.generate(GenerationRequest("a fox mark", output_format="svg"), "me")
    studio.generate(GenerationRequest("a spinner", output_format="gif", frame_count=3, size="256x256"), "me")
    for prompt in ("a red fox in snow", "a castle at night"):
        studio.generate(GenerationRequest(prompt), "me")
    failures: dict[str, list[dict]] = {}

    page.goto(server.url)
    page.get_by_role("combobox", name="Model").wait_for()
    scan(page, "Generate", failures)

    page.get_by_text("Logo or icon (SVG)").click()
    page.get_by_role("combobox", name="Style preset").wait_for()
    scan(page, "Generate a logo", failures)

    page.goto(server.url + "/gallery")
    page.get_by_text("4 images").wait_for()
    scan(page, "Gallery", failures)
    for name, where in (("a fox mark", "Logo detail"), ("a spinner", "Animation detail")):
        settled(page)
        page.get_by_role("button", name=name, exact=True).click()
        dialog_image_drawn(page)
        scan(page, where, failures)
        page.keyboard.press("Escape")
        page.get_by_role("dialog").wait_for(state="detached")

    gallery_tiles(page).first.click()
    dialog_image_drawn(page)
    scan(page, "Gallery detail", failures)

    page.get_by_role("dialog").get_by_role("button", name="Edit").click()
    page.get_by_text("What to change").first.wait_for()
    scan(page, "Edit", failures)

    board = studio.create_board("Launch set", "me", visibility="team")
    keys = [item["key"] for item in studio.history().items[:2]]
    studio.add_to_board(board.id, "me", keys)
    studio.submit_for_review(board.id, "me", keys[0])
    studio.approve(board.id, "me", keys[0])
    page.goto(f"{server.url}/boards?board={board.id}")
    page.get_by_text("✓ Approved by me").wait_for()
    scan(page, "Board", failures)

    run = studio.plan_run("ann", prompts="a red fox\na castle", presets=["photo"], sizes=["1024x1024"])
    studio.start_run(run, "ann", "all", name="Two of them")
    page.goto(server.url + "/runs")
    page.get_by_role("textbox", name="Prompts, one per line").fill("a lighthouse\na harbour")
    page.get_by_role("textbox", name="Prompts, one per line").press("Control+Enter")
    page.get_by_role("button", name="Start the run of 2 images").wait_for()
    page.get_by_text("Two of them").wait_for()
    scan(page, "Runs", failures)

    page.goto(server.url + "/admin")
    page.get_by_role("heading", name="Admin").wait_for()
    scan(page, "Admin", failures)
    assert failures == {}, json.dumps(failures, indent=1)


def tab_to(page, role: str, name: str, *, limit: int = 80) -> None:
    """Press Tab until the control with this role and name has the focus, as a keyboard's user does."""
    target = page.get_by_role(role, name=name, exact=True)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("e => e === document.activeElement || e.getRootNode().activeElement === e"):
            return
    raise AssertionError(f"{role} {name!r} is not reachable with Tab")


@pytest.mark.parametrize("page", ["desktop"], indirect=True)  # a keyboard's walk: a phone has no Tab key
def test_a_keyboard_alone_makes_an_image_and_opens_it_in_the_gallery(server, page, tmp_path):
    page.goto(server.url)
    page.get_by_role("combobox", name="Model").wait_for()
    settled(page)
    tab_to(page, "textbox", "Prompt")
    page.keyboard.type("a lighthouse at dusk")
    page.wait_for_function(
        "!document.querySelector('[data-testid=\"stBaseButton-primary\"]')?.disabled", timeout=30_000
    )
    tab_to(page, "button", "Generate")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="More like this").wait_for(timeout=30_000)
    settled(page)
    tab_to(page, "link", "Open in gallery")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("a lighthouse at dusk").first.wait_for()
    page.keyboard.press("Escape")  # the dialog closes from the keyboard too
    dialog.wait_for(state="detached")
    settled(page)
    tab_to(page, "button", "a lighthouse at dusk")  # the tile, named by its prompt
    page.keyboard.press("Enter")
    dialog.get_by_role("button", name="Copy link").wait_for()
