"""Boards in Chromium: an image put on a board from the Gallery's detail, reviewed and approved on the board's
page, the board opened by its link, and downloaded as a zip whose manifest names each image."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from playwright.sync_api import expect

from imagegen import GenerationRequest, Settings, Studio
from tests.e2e.conftest import dialog_image_drawn, gallery_tiles, settled, shot

pytestmark = pytest.mark.e2e


def test_an_image_goes_on_a_board_is_approved_there_and_the_board_downloads_with_its_manifest(server, page, tmp_path):
    studio = Studio(Settings(data_dir=tmp_path / "data", offline_delay=0))
    for prompt in ("a launch icon, rocket", "a launch icon, flag"):
        studio.generate(GenerationRequest(prompt), "ann")
    board = studio.create_board("Launch icons", "ann", description="The six icons of the launch", visibility="team")
    page.goto(server.url + "/gallery")
    page.get_by_text("2 images").wait_for()
    settled(page)
    gallery_tiles(page).first.click()
    dialog = page.get_by_role("dialog")
    dialog_image_drawn(page)
    dialog.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("Added to Launch icons.")).to_be_in_viewport()

    page.goto(f"{server.url}/boards?board={board.id}")
    page.get_by_role("heading", name="Launch icons").wait_for()
    page.get_by_text("added by ann").wait_for()
    settled(page)
    page.get_by_role("button", name="Submit for review").click()
    page.get_by_text("Waiting for review").wait_for()
    settled(page)
    page.get_by_role("button", name="Approve").click()  # the local user is an admin: a reviewer of every board
    approved = page.get_by_text("✓ Approved by ann")
    approved.wait_for()
    expect(approved).to_be_in_viewport()
    settled(page)
    shot(page, "board-approved")
    link = page.get_by_role("textbox", name="Link to this board, for a teammate").input_value()
    assert link.endswith(f"?board={board.id}")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download as zip").click()
    archive = zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes()))
    manifest = json.loads(archive.read("manifest.json"))
    [entry] = manifest["images"]
    assert entry["review"] == "approved" and entry["file"] in archive.namelist()
    assert download.value.suggested_filename == f"imagegen-board-launch-icons-{board.id}.zip"

    page.goto(link)  # a teammate opens the link on a cold page
    page.get_by_role("heading", name="Launch icons").wait_for()
    page.get_by_text("✓ Approved by ann").wait_for()
