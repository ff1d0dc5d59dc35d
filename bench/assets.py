"""The engine's own time per logo and per animation, beside the floor of the work it cannot avoid.

A logo (SVG): checking the answer (parsing it with defusedxml, cleaning it to the allowlist, drawing its
thumbnail with resvg), the thumbnail's WebP and storing the three files, beside the floor: parsing it and
writing it once, and beside that floor with the one drawing a thumbnail cannot do without. An animation
(GIF): checking every frame, the first frame's thumbnail and storing, beside the floor: decoding its frames
once. Targets: under half a second per asset (the provider's render takes seconds); the engine within 1.5x of
the floor that includes what it must do (the drawing for a logo, the frames for an animation). The logo is a
heavy one (300 stroked, shaded paths with gradients): drawing is nearly all of its time."""

from __future__ import annotations

import io
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from _common import median_seconds, table, verdict
from PIL import Image

from imagegen import imaging
from imagegen.answers import check_answer
from imagegen.providers.offline import draw, placeholder_gif
from imagegen.storage import LocalStore

REPEAT = 15
FRAMES = 9


def logo_svg() -> bytes:
    """A logo as an author writes one: a few hundred path, shape and gradient elements (about 60 KB)."""
    shapes = []
    for index in range(300):
        x, y = (index * 37) % 1000, (index * 53) % 1000
        shapes.append(
            f'<path d="M{x} {y} C{x + 40} {y - 30} {x + 80} {y + 30} {x + 120} {y} L{x + 60} {y + 90} Z" '
            f'fill="url(#g{index % 4})" stroke="#1d3557" stroke-width="2" opacity="0.9"/>'
        )
    gradients = "".join(
        f'<linearGradient id="g{i}"><stop offset="0" stop-color="#e63946"/><stop offset="1" stop-color="#457b9d"/>'
        "</linearGradient>"
        for i in range(4)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1024 1024"><defs>{gradients}</defs>'
        f'{"".join(shapes)}<text x="512" y="980" font-size="48" text-anchor="middle">Acme</text></svg>'
    ).encode()


def keep_logo(store: LocalStore, data: bytes, index: int) -> None:
    answer = check_answer(data, "svg", None)
    thumb = imaging.make_thumbnail(answer.picture)
    folder = f"bench/{index:06d}/"
    store.put(folder + "original.svg", answer.kept, "image/svg+xml", "")
    store.put(folder + "provider-original.svg.txt", data, "text/plain", "")
    store.put(folder + "thumb.webp", thumb, "image/webp", "")


def keep_animation(store: LocalStore, data: bytes, index: int) -> None:
    answer = check_answer(data, "gif", (1024, 1024))
    thumb = imaging.make_thumbnail(answer.picture)
    folder = f"bench/{index:06d}/"
    store.put(folder + "original.gif", answer.kept, "image/gif", "")
    store.put(folder + "thumb.webp", thumb, "image/webp", "")


def draw_once(svg: bytes) -> None:
    import resvg_py

    resvg_py.svg_to_bytes(svg_string=svg.decode(), width=imaging.THUMBNAIL_EDGE, height=imaging.THUMBNAIL_EDGE)


def decode_frames(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    for frame in range(image.n_frames):
        image.seek(frame)
        image.load()


def main() -> None:
    svg = logo_svg()
    gif = placeholder_gif(draw(7, (1024, 1024), "photo"), FRAMES, 200)
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(Path(tmp))
        counter = iter(range(10**6))
        floor_path = Path(tmp) / "floor.svg"
        figures = {
            "logo: the engine (check, clean, draw, thumbnail, store 3 files)": median_seconds(
                lambda: keep_logo(store, svg, next(counter)), REPEAT
            ),
            "logo: the floor (parse once, write once)": median_seconds(
                lambda: (ET.fromstring(svg), floor_path.write_bytes(svg)), REPEAT
            ),
            "logo: the floor with one drawing at the thumbnail's size": median_seconds(
                lambda: (ET.fromstring(svg), floor_path.write_bytes(svg), draw_once(svg)), REPEAT
            ),
            f"animation: the engine ({FRAMES} frames checked, thumbnail, store)": median_seconds(
                lambda: keep_animation(store, gif, next(counter)), REPEAT
            ),
            "animation: the floor (decode every frame once)": median_seconds(lambda: decode_frames(gif), REPEAT),
        }
    engine, bare, drawn, loop, frames = figures.values()
    rows = [(name, f"{seconds * 1000:7.1f} ms") for name, seconds in figures.items()]
    rows += [
        ("logo: engine / parse and write", f"{engine / bare:7.1f}x"),
        ("logo: engine / parse, write and draw", f"{engine / drawn:7.1f}x"),
        ("animation: engine / decode the frames", f"{loop / frames:7.1f}x"),
    ]
    table(f"Per asset (median of {REPEAT}; a {len(svg) // 1024} KB logo, a {len(gif) // 1024} KB GIF)", rows)
    verdict(engine < 0.5, "a logo kept in under half a second")
    verdict(loop < 0.5, "an animation kept in under half a second")
    verdict(engine <= 1.5 * drawn, "a logo within 1.5x of parsing, writing and drawing it once")
    verdict(loop <= 1.5 * frames, "an animation within 1.5x of decoding its frames once")


if __name__ == "__main__":
    main()
