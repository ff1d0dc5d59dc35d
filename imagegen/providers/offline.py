"""The embedded default: a deterministic placeholder image, drawn locally with no network, for $0."""

from __future__ import annotations

import hashlib
import io
import random
import time

from PIL import Image, ImageDraw, ImageFilter

from imagegen import imaging
from imagegen.director import load_presets
from imagegen.edits import EditInputs, decode_input
from imagegen.providers.base import PartialCallback, RenderedImage, RenderJob, RenderOutput
from imagegen.settings import Settings

PARTIAL_STEPS = 3
AUTO_SIZE = (1024, 1024)


class OfflineProvider:
    name = "offline"
    label = "Offline renderer: a local placeholder, not a real model ($0)"

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def render(self, job: RenderJob, on_partial: PartialCallback) -> RenderOutput:
        edit = job.edit
        dims = job.spec.parse_size(job.request.size) or ((edit.first.width, edit.first.height) if edit else AUTO_SIZE)
        images = []
        for index in range(job.request.n):
            seed = _seed(job.prompt + "".join(edit.digests if edit else ()), job.style_hint, dims, index)
            transparent = job.request.background == "transparent"
            picture = draw(seed, dims, job.style_hint, transparent=transparent)
            if edit is not None:
                picture = edited(edit, picture, dims, transparent=transparent)
            if job.request.kind == "picture":
                if index == 0:
                    self._emit_partials(picture, on_partial)
                images.append(
                    RenderedImage(imaging.encode(picture, job.request.output_format, job.request.compression))
                )
            else:
                time.sleep(self.delay)  # a GIF or an SVG comes whole, with no previews
                images.append(RenderedImage(_asset(job, seed, dims, picture)))
        return RenderOutput(images=images, notes=[self.label])

    def request_sent(self) -> bool:
        return False  # nothing leaves the machine: whatever fails here cost nothing

    def _emit_partials(self, picture: Image.Image, on_partial: PartialCallback) -> None:
        step_delay = self.delay / (PARTIAL_STEPS + 1)
        small = picture.copy()
        small.thumbnail((256, 256))
        for step in range(PARTIAL_STEPS):
            time.sleep(step_delay)
            blur = 12 - 4 * step
            preview = small.filter(ImageFilter.GaussianBlur(blur))
            on_partial(step, imaging.encode(preview.convert("RGB"), "jpeg", 70))
        time.sleep(step_delay)


def _asset(job: RenderJob, seed: int, dims: tuple[int, int], picture: Image.Image) -> bytes:
    if job.request.output_format == "svg":
        return placeholder_svg(seed, dims, job.style_hint)
    frames = job.request.frame_count or 9
    return placeholder_gif(picture, frames, job.request.frame_duration_ms or 200)


def placeholder_svg(seed: int, dims: tuple[int, int], preset_name: str) -> bytes:
    """A vector drawing that depends only on its inputs: real shapes in the preset's palette on no backdrop,
    labelled as the placeholder it is."""
    book = load_presets()
    preset = book.presets.get(preset_name) or next(iter(book.presets.values()))
    rng = random.Random(seed)
    palette = list(preset.palette)
    rng.shuffle(palette)
    width, height = dims
    unit = min(width, height)
    shapes = [
        f'<rect x="{unit // 8}" y="{unit // 8}" width="{width - unit // 4}" height="{height - unit // 4}" '
        f'rx="{unit // 6}" fill="{palette[0]}"/>',
        f'<circle cx="{width // 2}" cy="{height // 2}" r="{unit // 4}" fill="{palette[1 % len(palette)]}"/>',
    ]
    for _ in range(3):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(unit // 16, unit // 6)
        shapes.append(
            f'<circle cx="{x}" cy="{y}" r="{r}" fill="{palette[rng.randrange(len(palette))]}" opacity="0.8"/>'
        )
    points = " ".join(f"{rng.randrange(width)},{rng.randrange(height)}" for _ in range(3))
    shapes.append(f'<polygon points="{points}" fill="{palette[-1]}" opacity="0.7"/>')
    label = (
        f'<text x="{width // 2}" y="{height - unit // 16}" font-size="{unit // 24}" text-anchor="middle" fill="#333">'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
        f"<title>Offline placeholder</title>{''.join(shapes)}{label}offline placeholder</text></svg>"
    ).encode()


def placeholder_gif(picture: Image.Image, frames: int, duration_ms: int) -> bytes:
    """A loop that depends only on its inputs: the picture turning through `frames` steps of its hue."""
    small = picture.convert("RGB")
    size = small.size
    small.thumbnail((256, 256))  # turned small, then scaled back: a placeholder need not cost a real frame
    steps = []
    for index in range(frames):
        hue, saturation, value = small.convert("HSV").split()
        shifted = hue.point(lambda v, turn=index * 256 // frames: (v + turn) % 256)
        turned = Image.merge("HSV", (shifted, saturation, value)).convert("RGB")
        steps.append(turned.convert("P", palette=Image.Palette.ADAPTIVE).resize(size, Image.Resampling.NEAREST))
    out = io.BytesIO()
    steps[0].save(out, format="GIF", save_all=True, append_images=steps[1:], duration=duration_ms, loop=0)
    return out.getvalue()


def _seed(prompt: str, preset: str, dims: tuple[int, int], index: int) -> int:
    digest = hashlib.sha256(f"{preset}\n{dims}\n{index}\n{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def draw(seed: int, dims: tuple[int, int], preset_name: str, *, transparent: bool = False) -> Image.Image:
    """A picture that depends only on its inputs: the preset's palette and composition, the prompt's seed."""
    book = load_presets()
    preset = book.presets.get(preset_name) or next(iter(book.presets.values()))
    rng = random.Random(seed)
    palette = [_hex(c) for c in preset.palette]
    rng.shuffle(palette)
    width, height = dims
    # Drawn small and scaled up: the offline renderer should cost far less than the engine around it.
    scale = max(1, max(width, height) // 512)
    w, h = max(1, width // scale), max(1, height // scale)
    mode = "RGBA" if transparent else "RGB"
    canvas = Image.new(mode, (w, h), (0, 0, 0, 0) if transparent else palette[0])
    pen = ImageDraw.Draw(canvas)
    if not transparent:
        for y in range(h):
            t = y / max(1, h - 1)
            pen.line([(0, y), (w, y)], fill=_mix(palette[0], palette[1], t))
    _COMPOSITIONS.get(preset.composition, _centered)(pen, rng, w, h, palette)
    return canvas.resize((width, height), Image.Resampling.NEAREST) if scale > 1 else canvas


def edited(edit: EditInputs, drawn: Image.Image, dims: tuple[int, int], *, transparent: bool) -> Image.Image:
    """An offline edit: the starting image at the size asked, with the region to change (the mask's
    transparent pixels, the markup's strokes, or the whole image) blended towards a new drawing tinted with
    the references' colours. It depends only on its inputs."""
    mode = "RGBA" if transparent else "RGB"
    base = decode_input(edit.first).convert(mode).resize(dims, Image.Resampling.BILINEAR)
    new = drawn.convert(mode)
    for reference in edit.images[1:]:
        tint = decode_input(reference).convert(mode).resize((1, 1), Image.Resampling.BOX).resize(dims)
        new = Image.blend(new, tint, 0.5)
    region = _region(edit, dims)
    if region is None:
        return Image.blend(base, new, 0.35)
    return Image.composite(Image.blend(base, new, 0.8), base, region)


def _region(edit: EditInputs, dims: tuple[int, int]) -> Image.Image | None:
    """Where the edit may change the image, as an L mask of `dims` (255: change), or None for everywhere."""
    if edit.mask is not None:
        alpha = Image.open(io.BytesIO(edit.mask)).convert("RGBA").getchannel("A")
        return alpha.point(lambda a: 255 if a == 0 else 0).resize(dims, Image.Resampling.NEAREST)
    if edit.markup is not None:
        strokes = Image.open(io.BytesIO(edit.markup)).convert("RGBA").getchannel("A").point(lambda a: 255 if a else 0)
        # The model changes what the drawing points at, not only the strokes: grow them generously.
        grown = strokes.filter(ImageFilter.MaxFilter(9)).filter(ImageFilter.GaussianBlur(24))
        return grown.point(lambda a: 255 if a else 0).resize(dims, Image.Resampling.NEAREST)
    return None


def _centered(pen: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, palette: list) -> None:
    r = min(w, h) * rng.uniform(0.25, 0.38)
    cx, cy = w / 2, h / 2
    pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=palette[2])
    r2 = r * rng.uniform(0.35, 0.6)
    pen.rectangle([cx - r2, cy - r2, cx + r2, cy + r2], fill=palette[3])


def _horizon(pen: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, palette: list) -> None:
    horizon = h * rng.uniform(0.55, 0.75)
    sun = min(w, h) * rng.uniform(0.08, 0.15)
    sx = w * rng.uniform(0.2, 0.8)
    pen.ellipse([sx - sun, horizon - 2.2 * sun, sx + sun, horizon - 0.2 * sun], fill=palette[3])
    points = [(0, h)] + [(x, horizon - rng.uniform(0, h * 0.12)) for x in range(0, w + 40, 40)] + [(w, h)]
    pen.polygon(points, fill=palette[2])


def _diagonal(pen: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, palette: list) -> None:
    for i in range(6):
        offset = rng.uniform(-w, w)
        pen.polygon(
            [(offset, h), (offset + w * 0.3, h), (offset + w, 0), (offset + w * 0.7, 0)], fill=palette[2 + i % 2]
        )


def _radial(pen: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, palette: list) -> None:
    for i in range(8):
        r = min(w, h) * rng.uniform(0.05, 0.25)
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        pen.ellipse([x - r, y - r, x + r, y + r], fill=palette[(i % 3) + 1])


def _grid(pen: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, palette: list) -> None:
    cell = max(8, min(w, h) // 6)
    for gx in range(0, w, cell):
        for gy in range(0, h, cell):
            if rng.random() < 0.4:
                pen.rectangle([gx + 2, gy + 2, gx + cell - 2, gy + cell - 2], fill=palette[rng.randrange(1, 4)])


def _pixel(pen: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, palette: list) -> None:
    block = max(4, min(w, h) // 24)
    for gx in range(0, w, block):
        for gy in range(h // 2, h, block):
            pen.rectangle([gx, gy, gx + block - 1, gy + block - 1], fill=palette[rng.randrange(1, 4)])


_COMPOSITIONS = {
    "centered": _centered,
    "horizon": _horizon,
    "diagonal": _diagonal,
    "radial": _radial,
    "grid": _grid,
    "pixel": _pixel,
}


def _hex(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def make_offline(settings: Settings) -> OfflineProvider:
    return OfflineProvider(settings.offline_delay)
