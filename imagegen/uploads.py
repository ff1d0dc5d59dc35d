"""Images people hand the studio (a starting image to edit, reference images): checked by their content
before anything is spent, and rebuilt from their pixels alone, upright as they were meant to be seen. What
is kept and sent is never the uploaded container: a file can carry bytes in places a metadata reader never
reports (private chunks, segments, data after the end), so only the pixels cross over."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, JpegImagePlugin

from imagegen.errors import InvalidRequest
from imagegen.imaging import MAX_PIXELS, open_safely

#: what the Images API takes as input images, named as Pillow names them
UPLOAD_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
#: the Images API refuses an input image of 50 MB or more
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
#: pixel layouts kept as they are; any other (palettes, 16-bit, CMYK, YCbCr) is rebuilt as RGB(A)
_PLAIN_MODES = {"L", "LA", "RGB", "RGBA"}
JPEG_QUALITY = 95
WEBP_QUALITY = 95


@dataclass(frozen=True)
class Upload:
    """An image that passed every check, rebuilt from its pixels."""

    data: bytes
    format: str  # png, jpeg or webp
    width: int
    height: int


def check_upload(data: bytes, name: str = "The image") -> Upload:
    """Prove `data` is a PNG, JPEG or WebP image within the limits, by its content (never its file name),
    and return it rebuilt from its pixels. Raises InvalidRequest, saying what to change, otherwise."""
    if not data:
        raise InvalidRequest(f"{name} is empty: choose an image file.")
    if len(data) >= MAX_UPLOAD_BYTES:
        raise InvalidRequest(
            f"{name} is {len(data) / 1024 / 1024:.1f} MB: images must be under {MAX_UPLOAD_BYTES // 1024 // 1024} MB."
        )
    image = _open(data, name)
    kind = UPLOAD_FORMATS.get(str(image.format))
    if kind is None:
        raise InvalidRequest(f"{name} is a {image.format} image: upload a PNG, JPEG or WebP image.")
    pixels = pixels_only(image)
    return Upload(_encode(pixels, kind, image), kind, pixels.width, pixels.height)


def pixels_only(image: Image.Image) -> Image.Image:
    """A new image holding nothing but `image`'s pixels: turned upright by its EXIF orientation, in sRGB
    when it carried a colour profile, in a plain layout (no palette, which can hold bytes of its own)."""
    upright = ImageOps.exif_transpose(image)
    in_srgb = _to_srgb(upright)
    mode = in_srgb.mode
    if mode not in _PLAIN_MODES:
        mode = "RGBA" if in_srgb.has_transparency_data else "RGB"
    elif "transparency" in in_srgb.info:  # a single transparent colour of an L or RGB image
        mode = "LA" if mode == "L" else "RGBA"
    plain = in_srgb.convert(mode)
    return Image.frombytes(plain.mode, plain.size, plain.tobytes())  # a fresh image: no info, no palette


def _to_srgb(image: Image.Image) -> Image.Image:
    """The pixels converted from the file's colour profile to sRGB, so the profile (which can carry any
    text) need not be kept. A profile that cannot be read is ignored, as browsers ignore it."""
    profile = image.info.get("icc_profile")
    if not profile:
        return image
    mode = "RGBA" if image.has_transparency_data else "RGB"
    given = image if image.mode in ("RGB", "RGBA", "CMYK", "L") else image.convert(mode)
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        converted = ImageCms.profileToProfile(given, source, ImageCms.createProfile("sRGB"), outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image
    return converted if converted is not None else image


def _open(data: bytes, name: str) -> Image.Image:
    return open_safely(
        data,
        too_many_pixels=lambda width, height: InvalidRequest(
            f"{name} is {width}x{height}: images may have at most {MAX_PIXELS:,} pixels. Scale it down."
        ),
        too_large=InvalidRequest(f"{name} is too large to open safely. Scale it down."),
        unreadable=lambda exc: InvalidRequest(f"{name} is not a readable image: upload a PNG, JPEG or WebP file."),
    )


def _encode(pixels: Image.Image, kind: str, source: Image.Image) -> bytes:
    """The pixels in the upload's own format, with nothing else: no EXIF, XMP, text, comment or profile."""
    out = io.BytesIO()
    if kind == "jpeg":
        # The upload's own chroma subsampling (-1, the encoder's default, where it cannot be told).
        pixels.save(out, "JPEG", quality=JPEG_QUALITY, subsampling=JpegImagePlugin.get_sampling(source))
    elif kind == "webp":
        pixels.save(out, "WEBP", quality=WEBP_QUALITY)
    else:
        pixels.save(out, "PNG")
    return out.getvalue()
