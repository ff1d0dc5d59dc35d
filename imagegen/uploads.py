"""Images people hand the studio (a starting image to edit, reference images): checked by their content
before anything is spent, and kept without the metadata a camera or an editor wrote into them (location,
device, author), upright as they were meant to be seen."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from imagegen.errors import InvalidRequest
from imagegen.imaging import MAX_PIXELS, open_safely

#: what the Images API takes as input images, named as Pillow names them
UPLOAD_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
#: the Images API refuses an input image of 50 MB or more
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_EXIF_ORIENTATION = 0x0112
#: what Pillow reports about a file that only says how to show its pixels; anything else is stripped
_DISPLAY_INFO = {
    "dpi", "gamma", "srgb", "chromaticity", "icc_profile", "transparency", "aspect", "interlace",
    "jfif", "jfif_version", "jfif_unit", "jfif_density", "adobe", "adobe_transform", "progressive", "progression",
    "loop", "background", "timestamp", "duration",  # the frame timing Pillow reports for every WebP
}  # fmt: skip
#: JPEG segments that only say how to show the pixels: JFIF, the colour profile, Adobe's colour transform
_DISPLAY_SEGMENTS = {"APP0", "APP2", "APP14"}


@dataclass(frozen=True)
class Upload:
    """An image that passed every check, re-encoded without its metadata."""

    data: bytes
    format: str  # png, jpeg or webp
    width: int
    height: int


def check_upload(data: bytes, name: str = "The image") -> Upload:
    """Prove `data` is a PNG, JPEG or WebP image within the limits, by its content (never its file name),
    and return it without metadata. Raises InvalidRequest, saying what to change, otherwise."""
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
    if not _carries_metadata(image):
        return Upload(data, kind, image.width, image.height)  # nothing to strip: kept byte for byte
    turned = image.getexif().get(_EXIF_ORIENTATION, 1) != 1
    upright = ImageOps.exif_transpose(image) if turned else image
    return Upload(_without_metadata(upright, kind, keep_jpeg_quality=not turned), kind, upright.width, upright.height)


def _carries_metadata(image: Image.Image) -> bool:
    """Whether the file says anything beyond how to show its pixels (EXIF, XMP, text, comments, IPTC)."""
    if set(image.info) - _DISPLAY_INFO:
        return True
    return any(marker not in _DISPLAY_SEGMENTS for marker, _ in getattr(image, "applist", []))


def _open(data: bytes, name: str) -> Image.Image:
    return open_safely(
        data,
        too_many_pixels=lambda width, height: InvalidRequest(
            f"{name} is {width}x{height}: images may have at most {MAX_PIXELS:,} pixels. Scale it down."
        ),
        too_large=InvalidRequest(f"{name} is too large to open safely. Scale it down."),
        unreadable=lambda exc: InvalidRequest(f"{name} is not a readable image: upload a PNG, JPEG or WebP file."),
    )


def _without_metadata(image: Image.Image, kind: str, *, keep_jpeg_quality: bool) -> bytes:
    """Encode again with no EXIF, XMP or text: only the pixels (and a colour profile, which is not about
    anyone) survive. A JPEG that needed no turning keeps its own quantisation, so it loses nothing more."""
    out = io.BytesIO()
    profile = image.info.get("icc_profile")
    extra = {"icc_profile": profile} if profile else {}
    if kind == "jpeg":
        # Pillow writes a JPEG comment it read back out unless told otherwise.
        image.save(out, "JPEG", quality="keep" if keep_jpeg_quality else 95, comment=b"", **extra)
    elif kind == "webp":
        image.save(out, "WEBP", quality=95, **extra)
    else:
        image.save(out, "PNG", **extra)
    return out.getvalue()
