"""Speed a person feels, timed in Chromium against a real studio server (the offline renderer taking
RENDER_SECONDS): from the click to the thing visible and drawn, timed in the page itself (see WATCH). Targets: an edit of an uploaded
photo within 1.5 s of the renderer's own time (as a new image is); Edit from the gallery to the edit form,
opening an image's detail and opening Admin under 1 s. Beside each figure: what a walk on a loaded
two-core box measured before this benchmark existed."""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from _common import table, verdict
from PIL import Image

from imagegen import GenerationRequest, Settings, Studio
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENS, StreamlitServer, gallery_tiles, server_agrees

RENDER_SECONDS = 2.0
REPEAT = 5
GALLERY_IMAGES = 12
#: the walk's figures (seconds, loaded two-core box, renderer at 2 s), before this benchmark
WALK = {"new image": 3.7, "edit of an upload": 12.9, "gallery Edit to the form": 4.7, "open the detail": 3.3,
        "open Admin": 4.5}  # fmt: skip


#: In the page: the click's own moment (its pointerdown event) and the first frame after it in which
#: `condition` holds. What Playwright adds around a click and a wait (its checks, its polling, its round
#: trips: 0.1-0.35 s) is not something a person at the screen waits for.
WATCH = """condition => new Promise(resolve => {
  let clicked = null;
  window.addEventListener("pointerdown", event => { clicked ??= event.timeStamp; }, { capture: true, once: true });
  const look = () => {
    if (clicked !== null && condition()) resolve((performance.now() - clicked) / 1000);
    else requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
})"""
#: an image matching the selector, loaded and drawn
DRAWN = "[...document.querySelectorAll({!r})].some(i => i.complete && i.naturalWidth > 0)"
#: the edit's box to type in: the prompt box draws its text area in its own shadow root
EDIT_BOX = (
    "[...document.querySelectorAll('.stElementContainer *')].some(e => e.shadowRoot && "
    "e.shadowRoot.querySelector('textarea[aria-label=\"What to change\"]'))"
)


def spread(samples: list[float]) -> str:
    return " ".join(f"{seconds:.2f}" for seconds in samples)


def timed(page, click, condition: str) -> float:
    """Seconds from `click`'s pointerdown to the first frame in which the JavaScript `condition` holds."""
    watching = page.evaluate_handle(f"() => ({{ done: ({WATCH})(() => {condition}) }})")
    click()
    return float(page.evaluate("watching => watching.done", watching))


def typed_then_sent(page, field: str, text: str, button: str) -> float:
    """Type `text` into `field`, wait for the server's plan of it, then time `button` to the image it makes."""
    page.get_by_role("textbox", name=field).fill(text)
    server_agrees(page, text)
    click = page.get_by_role("button", name=button, exact=True).click
    return timed(page, click, DRAWN.format(f'.st-key-latest-result img[alt*="{text}"]'))


def new_image(page, url: str, round_: int) -> float:
    page.goto(url)
    return typed_then_sent(page, "Prompt", f"a lighthouse at dusk number {round_}", "Generate")


def upload_edit(page, url: str, round_: int, picture: Path) -> float:
    page.goto(url)
    page.get_by_role("textbox", name="Prompt").wait_for()
    page.get_by_text("Edit an image instead").click()
    page.locator("input[type=file]").first.set_input_files(str(picture))
    return typed_then_sent(page, "What to change", f"make it night number {round_}", "Edit image")


def detail_edit_button(page):
    return page.get_by_role("dialog").get_by_role("button", name="Edit", exact=True)


def open_detail(page, url: str) -> float:
    """To the picture drawn in the dialog, its Edit button there; then (untimed) until the dialog has
    settled, so that its entrance is not counted in the click that follows."""
    page.goto(url + "/gallery")
    tile = gallery_tiles(page).nth(3)
    tile.wait_for()
    drawn = DRAWN.format("[role='dialog'] [data-testid='stImage'] img")
    took = timed(page, tile.click, f"{drawn} && document.querySelector(\"[role='dialog'] .st-key-detail-edit\")")
    detail_edit_button(page).hover()
    return took


def gallery_edit(page, url: str) -> float:
    open_detail(page, url)
    return timed(page, detail_edit_button(page).click, f"{EDIT_BOX} && {DRAWN.format('.st-key-edit-header img')}")


def open_admin(page, url: str) -> float:
    page.goto(url)
    page.get_by_role("heading", name="Generate").wait_for()
    charts = '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
    return timed(
        page, page.get_by_role("link", name="Admin").click, f"document.querySelectorAll({charts!r}).length >= 2"
    )


def main() -> int:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        studio = Studio(Settings(data_dir=data, offline_delay=0))
        for index in range(GALLERY_IMAGES):
            studio.generate(GenerationRequest(f"a red fox in snow, study {index}"), f"painter-{index}")
        studio.set_quota("ann", 100, by="bench")  # the visitor's own renders: 2 x REPEAT, beyond the default
        picture = Path(tmp) / "photo.jpg"
        Image.effect_mandelbrot((3000, 2000), (-2, -1.3, 1, 1.3), 60).convert("RGB").save(picture, quality=92)
        server = StreamlitServer(data, IMAGEGEN_OFFLINE_DELAY=str(RENDER_SECONDS))
        server.start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_context(**SCREENS["desktop"]).new_page()
                page.set_default_timeout(60_000)
                figures = {
                    "new image": [new_image(page, server.url, r) for r in range(REPEAT)],
                    "edit of an upload": [upload_edit(page, server.url, r, picture) for r in range(REPEAT)],
                    "gallery Edit to the form": [gallery_edit(page, server.url) for _ in range(REPEAT)],
                    "open the detail": [open_detail(page, server.url) for _ in range(REPEAT)],
                    "open Admin": [open_admin(page, server.url) for _ in range(REPEAT)],
                }
                browser.close()
        finally:
            server.stop()
    medians = {name: statistics.median(samples) for name, samples in figures.items()}
    table(
        f"From the click to it drawn (median of {REPEAT}, desktop Chromium, renderer {RENDER_SECONDS:.0f} s)",
        [
            (name, f"{seconds:5.2f} s   (each: {spread(figures[name])})   walk, loaded box: {WALK[name]:.1f} s")
            for name, seconds in medians.items()
        ],
    )
    verdict(
        medians["edit of an upload"] <= RENDER_SECONDS + 1.5,
        f"an upload's edit within 1.5 s of the renderer's {RENDER_SECONDS:.0f} s",
    )
    for name in ("gallery Edit to the form", "open the detail", "open Admin"):
        verdict(medians[name] < 1.0, f"{name} under 1 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
