"""Two studio servers (`python -m ui.serve`) on one PostgreSQL and one S3: what a person makes on one is
in the other's gallery, and the quota they spend on one is spent on the other."""

import re

import pytest

from tests.e2e.conftest import LAPTOP_ONLY, StreamlitServer, dialog_image_drawn, gallery_tiles, shot

pytestmark = pytest.mark.e2e


@pytest.fixture
def replicas(tmp_path, postgres_url, moto, bucket):
    shared = {
        "IMAGEGEN_DATABASE_URL": postgres_url,
        "IMAGEGEN_STORAGE": "s3",
        "IMAGEGEN_S3_BUCKET": bucket,
        "AWS_ENDPOINT_URL_S3": moto.endpoint,
        "IMAGEGEN_OFFLINE_DELAY": "0",
    }
    servers = [StreamlitServer(tmp_path / name / "data", **shared) for name in ("a", "b")]
    for server in servers:
        (tmp_path / server.log.parent.name).mkdir(exist_ok=True)
        server.start()
    yield servers
    for server in servers:
        server.stop()


@LAPTOP_ONLY  # what replicas share is the database and the store, not anything of the screen
def test_an_image_made_on_one_replica_is_in_the_others_gallery(replicas, page):
    first, second = replicas
    page.goto(first.url)
    prompt = page.get_by_role("textbox", name="Prompt")
    prompt.click()
    prompt.press_sequentially("a lighthouse on a cliff", delay=10)
    page.wait_for_function(
        "document.querySelector('.directed-prompt')?.innerText.startsWith('a lighthouse on a cliff,')"
    )
    prompt.press("Control+Enter")
    page.get_by_text("Latest result").wait_for(timeout=30_000)

    page.goto(second.url + "/gallery")
    page.get_by_role("heading", name="Gallery").wait_for()
    page.get_by_text("1 image").wait_for()
    thumbnail = page.locator("[data-testid='stImage'] img").first
    thumbnail.wait_for()
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", thumbnail.element_handle())
    gallery_tiles(page).first.click()
    page.get_by_role("dialog").get_by_text("a lighthouse on a cliff").first.wait_for()
    dialog_image_drawn(page)  # the original, read from S3 by this replica: the screenshot shows it
    shot(page, "replicas-gallery")

    page.goto(second.url)  # the Generate page, on the other replica
    page.get_by_text(re.compile("Images left")).first.wait_for()
    assert "4 / 5" in page.locator("[data-testid='stMetric']").nth(1).inner_text()  # the quota is shared
