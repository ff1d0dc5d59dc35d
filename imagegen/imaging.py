"""Checking images that come back, and making thumbnails."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

from PIL import Image

from imagegen.errors import BadImage, ImagegenError, InvalidRequest

#: the largest image the studio accepts: 4x the biggest size any model makes
MAX_PIXELS = 4 * 3840 * 2160
#: the most frames an animation may carry: the API makes 2 to 16
MAX_FRAMES = 16
THUMBNAIL_EDGE = 384
#: the widest an image is drawn in a page (a result's column, the detail), twice over for a sharp screen
DISPLAY_EDGE = 1024


def open_safely(
    data: bytes,
    *,
    too_many_pixels: Callable[[int, int], Exception],
    too_large: Exception,
    unreadable: Callable[[Exception], Exception],
    before_decode: Callable[[Image.Image], None] | None = None,
) -> Image.Image:
    """Decode an image only once its header is within MAX_PIXELS and Pillow's bomb guard, and has passed the
    caller's own check of it (`before_decode`, which raises); raise the caller's own error for each way it
    can fail."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise too_many_pixels(width, height)
            if before_decode is not None:
                before_decode(image)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large from None
    except Exception as exc:  # Pillow raises many kinds for broken data
        if isinstance(exc, ImagegenError):
            raise
        raise unreadable(exc) from None
    return image


def verify_image(data: bytes, expected_format: str, expected_size: tuple[int, int] | None) -> Image.Image:
    """Open an image and prove it is what was asked for, without trusting its header's claims."""
    if not data:
        raise BadImage("The provider sent an empty image. You may have been charged; try again.")
    image = open_safely(
        data,
        too_many_pixels=lambda w, h: BadImage(f"The provider sent a {w}x{h} image, larger than any model makes."),
        too_large=BadImage("The provider sent an image too large to open safely."),
        unreadable=lambda exc: BadImage(f"The provider sent data that is not a readable image ({type(exc).__name__})."),
    )
    width, height = image.size
    actual_format = str(image.format).lower()  # Image.open always names the format: PNG, JPEG, WEBP...
    if actual_format != expected_format:
        raise BadImage(f"The provider sent a {actual_format} image where {expected_format} was asked for.")
    if expected_size is not None and image.size != expected_size:
        raise BadImage(
            f"The provider sent a {width}x{height} image where {expected_size[0]}x{expected_size[1]} was asked for."
        )
    if actual_format == "gif":
        _check_frames(image)
    return image


def _check_frames(image: Image.Image) -> None:
    """Decode every frame of an animation, refusing one with more frames than the API makes (counted as
    they are read, so a file of ten thousand frames is refused at the seventeenth) or a frame that is
    broken. The first frame is left current, for the thumbnail."""
    frames = 0
    try:
        while True:
            frames += 1
            if frames > MAX_FRAMES:
                raise BadImage(
                    f"The provider sent an animation of more than {MAX_FRAMES} frames: refused. You may have been charged."
                )
            image.load()
            try:
                image.seek(image.tell() + 1)
            except EOFError:
                break
    except BadImage:
        raise
    except Exception as exc:  # Pillow raises many kinds for a broken frame
        raise BadImage(f"Frame {frames} of the animation could not be read ({type(exc).__name__}).") from None
    image.seek(0)


def open_png(data: bytes) -> Image.Image:
    """A PNG the studio drew itself (an SVG's rendering), decoded."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def make_thumbnail(image: Image.Image, edge: int = THUMBNAIL_EDGE) -> bytes:
    """A small WebP of about `edge` pixels on the long side, keeping transparency."""
    # Palette and bilevel images would be resized by nearest neighbour: work in RGB(A) whatever came.
    source = image.convert("RGBA" if image.has_transparency_data else "RGB")
    scale = min(1.0, edge / max(source.size))
    size = (max(1, round(source.width * scale)), max(1, round(source.height * scale)))
    thumb = source.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0) if scale < 1 else source
    out = io.BytesIO()
    thumb.save(out, format="WEBP", quality=78, method=2)
    return out.getvalue()


def for_display(data: bytes, edge: int = DISPLAY_EDGE) -> bytes:
    """The image as a page can draw it with no more work: at most `edge` pixels wide, a PNG when it has
    transparency and a JPEG otherwise. (Streamlit decodes and encodes again, on every run of a page, an
    image wider than 1460 px or in any other format: a WebP thumbnail, a PNG photo.) An animation is left as
    it is, to play; a vector drawing is drawn to a PNG, so a page never holds an SVG document."""
    if looks_like_svg(data):
        from imagegen import vector  # loaded with the first vector asset a page shows

        return vector.render_png(vector.clean_svg(data), edge)
    image = Image.open(io.BytesIO(data))
    if image.format == "GIF":
        return data
    drawn_as = "PNG" if image.mode in ("RGBA", "LA", "P") else "JPEG"  # what Streamlit would encode it to
    if image.width <= edge and image.format == drawn_as:
        return data
    transparent = image.has_transparency_data
    source = image.convert("RGBA" if transparent else "RGB")
    if source.width > edge:
        size = (edge, max(1, round(source.height * edge / source.width)))
        source = source.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    out = io.BytesIO()
    if transparent:
        source.save(out, format="PNG", compress_level=1)
    else:
        source.save(out, format="JPEG", quality=88)
    return out.getvalue()


def for_description(data: bytes, edge: int = 512) -> bytes:
    """A PNG of the image at most `edge` pixels on its long side, as it is sent to be described: a vector
    drawing drawn, an animation's first frame. Raises InvalidRequest for bytes that are not a readable image
    within the limits."""
    if looks_like_svg(data):
        from imagegen import vector

        return vector.render_png(vector.clean_svg(data), edge)
    image = open_safely(
        data,
        too_many_pixels=lambda w, h: InvalidRequest(f"The image is {w}x{h}: larger than the studio opens."),
        too_large=InvalidRequest("The image is too large to open safely."),
        unreadable=lambda exc: InvalidRequest("That is not a readable image: choose a PNG, JPEG, WebP or GIF."),
    )
    source = image.convert("RGB")
    scale = min(1.0, edge / max(source.size))
    if scale < 1:
        size = (max(1, round(source.width * scale)), max(1, round(source.height * scale)))
        source = source.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    out = io.BytesIO()
    source.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def looks_like_svg(data: bytes) -> bool:
    """Whether stored bytes are an SVG document (the studio keeps no other XML): by content, not by name."""
    head = data[:512].lstrip()
    return head.startswith(b"<") and b"<svg" in head


def encode(image: Image.Image, output_format: str, compression: int | None = None) -> bytes:
    out = io.BytesIO()
    if output_format == "jpeg":
        image = image.convert("RGB")
        image.save(out, format="JPEG", quality=_quality(compression))
    elif output_format == "webp":
        image.save(out, format="WEBP", quality=_quality(compression))
    else:
        image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _quality(compression: int | None) -> int:
    # The API's output_compression is "percent compression"; 100 (its default) means best quality.
    return 90 if compression is None else max(1, min(95, compression))
