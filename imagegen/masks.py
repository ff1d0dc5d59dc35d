"""Masks for an edit: where the user painted over the starting image is where the model may change it.
The Images API wants a PNG the size of the first image whose fully transparent pixels mark the region to
edit, under 4 MB."""

from __future__ import annotations

import io
from collections.abc import Iterable

from PIL import Image, ImageChops

from imagegen.errors import InvalidRequest
from imagegen.imaging import open_safely

MAX_MASK_BYTES = 4 * 1024 * 1024
TRANSPOSE = Image.Transpose.TRANSPOSE


def drawn_layer(data: bytes) -> Image.Image | None:
    """A drawing sent from the page's canvas, as RGBA; None when nothing is drawn on it. Its size is checked
    from its header before it is decoded: the browser, not the studio, wrote it."""
    layer = open_safely(
        data,
        too_many_pixels=lambda width, height: InvalidRequest(
            f"The drawing is {width}x{height}: far larger than a canvas."
        ),
        too_large=InvalidRequest("The drawing is too large to open safely."),
        unreadable=lambda exc: InvalidRequest("The drawing is not a readable image: draw on the canvas again."),
    ).convert("RGBA")
    return layer if layer.getchannel("A").getbbox() is not None else None


def mask_from_painting(painting: Image.Image, size: tuple[int, int]) -> bytes:
    """The mask for an image of `size` from a painting over it (any size, as a canvas on the page shows
    it): every painted pixel (any opacity) becomes fully transparent, everything else opaque black."""
    painted = painting.convert("RGBA").getchannel("A").point(lambda alpha: 255 if alpha else 0)
    if painted.getbbox() is None:
        raise InvalidRequest("Paint over the part of the image to change first: the mask is empty.")
    # Any painted coverage of a pixel paints it: a thin stroke survives scaling down, and no edge is left
    # half transparent (the API edits only fully transparent pixels).
    painted = _overlapping(_overlapping(painted, size[0]).transpose(TRANSPOSE), size[1]).transpose(TRANSPOSE)
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.putalpha(painted.point(lambda on: 0 if on else 255))
    out = io.BytesIO()
    mask.save(out, "PNG", compress_level=1)  # a mask is two flat colours: small at any level
    return check_mask(out.getvalue(), size)


def _overlapping(layer: Image.Image, width: int) -> Image.Image:
    """`layer` ("L", painted 255, else 0) made `width` columns wide: an output column is painted wherever a
    column of `layer` its area overlaps is. Pillow's resampling alone is not this: BOX weighs the columns
    whose centres fall inside an output column, so one cut by an output column's edge can weigh nothing in
    either (46 columns to 36 lost the 35th), and NEAREST steps in 16.16 fixed point, off by a column at
    some edges. So the columns under each output column's two edges are picked by exact integer arithmetic,
    and those wholly inside it are averaged by BOX in floating point (in 8 bits a small share rounds to 0)."""
    source_width, height = layer.size
    if width == source_width:
        return layer
    columns = layer.transpose(TRANSPOSE).tobytes()  # source column x is bytes [x * height, (x + 1) * height)

    def picked(indexes: Iterable[int]) -> Image.Image:
        chosen = b"".join(columns[x * height : (x + 1) * height] for x in indexes)
        return Image.frombytes("L", (height, width), chosen).transpose(TRANSPOSE)

    left = picked(i * source_width // width for i in range(width))
    right = picked(-(-(i + 1) * source_width // width) - 1 for i in range(width))
    inside = layer.convert("F").resize((width, height), Image.Resampling.BOX).point(lambda share: share * 1e30)
    return ImageChops.lighter(ImageChops.lighter(left, right), inside.convert("L"))


def check_mask(data: bytes, size: tuple[int, int]) -> bytes:
    """Refuse a mask the Images API would refuse, saying why: not a PNG, not the starting image's size, no
    alpha channel, nothing to edit, or too large."""
    mask = _overlay(data, size, "mask")
    if "A" not in mask.getbands():
        raise InvalidRequest("The mask has no transparency: its transparent pixels mark where to edit.")
    if mask.getchannel("A").getextrema()[0] != 0:
        raise InvalidRequest("The mask has no fully transparent pixel: nothing would be edited.")
    return _png(mask)


def markup_from_drawing(drawing: Image.Image, size: tuple[int, int]) -> bytes:
    """The markup for an image of `size` from a drawing over it (arrows, circles, notes, at any scale): the
    drawing as a PNG of the image's size, transparent wherever nothing was drawn."""
    layer = drawing.convert("RGBA")
    if layer.getchannel("A").getbbox() is None:
        raise InvalidRequest("Draw on the image first: the markup is empty.")
    if layer.size != tuple(size):
        layer = layer.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    layer.save(out, "PNG")
    return check_markup(out.getvalue(), size)


def check_markup(data: bytes, size: tuple[int, int]) -> bytes:
    """Refuse a markup the Images API would refuse: it is a PNG of the starting image's size, with
    transparent pixels (it is laid over the image) and something drawn on it."""
    layer = _overlay(data, size, "markup")
    if "A" not in layer.getbands():
        raise InvalidRequest("The markup has no transparency: it is drawn over the image, so it must be see-through.")
    low, high = layer.getchannel("A").getextrema()
    if low != 0:
        raise InvalidRequest("The markup has no transparent pixel: it would hide the whole image.")
    if high == 0:
        raise InvalidRequest("The markup is empty: draw what to change on it.")
    return _png(layer)


def _overlay(data: bytes, size: tuple[int, int], what: str) -> Image.Image:
    """A mask or markup proven a PNG under 4 MB of the starting image's size (from its header, before a
    pixel is decoded), rebuilt from its pixels alone: nothing else the file carried is kept or sent."""
    if len(data) >= MAX_MASK_BYTES:
        raise InvalidRequest(f"The {what} is {len(data) / 1024 / 1024:.1f} MB: it must be under 4 MB.")

    def png_of_the_image_size(layer: Image.Image) -> None:
        if layer.format != "PNG":
            raise InvalidRequest(f"The {what} is a {layer.format} image: it must be a PNG.")
        if layer.size != tuple(size):
            raise InvalidRequest(
                f"The {what} is {layer.width}x{layer.height} but the image is {size[0]}x{size[1]}: they must match."
            )

    unreadable = InvalidRequest(f"The {what} is not a readable image: it must be a PNG.")
    layer = open_safely(
        data,
        too_many_pixels=lambda width, height: InvalidRequest(
            f"The {what} is {width}x{height} but the image is {size[0]}x{size[1]}: they must match."
        ),
        too_large=InvalidRequest(f"The {what} is too large to open safely: it must be {size[0]}x{size[1]}."),
        unreadable=lambda exc: unreadable,
        before_decode=png_of_the_image_size,
    )
    has_alpha = "A" in layer.getbands() or "transparency" in layer.info
    return Image.frombytes(*_plain(layer.convert("RGBA" if has_alpha else "RGB")))


def _plain(layer: Image.Image) -> tuple[str, tuple[int, int], bytes]:
    return layer.mode, layer.size, layer.tobytes()


def _png(layer: Image.Image) -> bytes:
    out = io.BytesIO()
    layer.save(out, "PNG", compress_level=1)  # a mask is mostly flat colours: small at any level
    return out.getvalue()
