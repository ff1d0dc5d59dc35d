"""One provider answer checked by its kind before it is kept: a picture or an animation verified as the image
asked for, an SVG made inert (see vector.py) with the provider's own bytes kept beside it for audit. Each
gives what the gallery shows of it (a raster to make the thumbnail from) and its drawing's size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

from imagegen import imaging, vector


@dataclass(frozen=True)
class CheckedAnswer:
    #: the file kept as the asset: the image as it came, or the SVG as cleaned
    kept: bytes
    #: a raster of it for the thumbnail (an animation's first frame, the SVG drawn)
    picture: Image.Image
    width: int
    height: int
    #: the provider's own SVG, kept apart for audit (None for a raster: what is kept is what came)
    provider_original: bytes | None = None
    #: what cleaning took out of an SVG, one line each
    removed: tuple[str, ...] = ()


def check_answer(raw: bytes, output_format: str, expected_size: tuple[int, int] | None) -> CheckedAnswer:
    """Raises BadImage (the provider may have billed) for what cannot be kept safely."""
    if output_format == "svg":
        clean = vector.clean_svg(raw)
        drawn = imaging.open_png(vector.render_png(clean, imaging.THUMBNAIL_EDGE))
        width, height = round(clean.width), round(clean.height)
        return CheckedAnswer(clean.data, drawn, width, height, raw, clean.removed)
    picture = imaging.verify_image(raw, output_format, expected_size)
    return CheckedAnswer(raw, picture, picture.width, picture.height)


def record_fields(answer: CheckedAnswer, folder: str, index: int) -> dict[str, Any]:
    """What an SVG's record adds: where the provider's own bytes are kept, and what was removed."""
    if answer.provider_original is None:
        return {}
    return {
        "audit_key": f"{folder}provider-original.svg.txt",
        "audit_file": f"{index}.provider.svg.txt",
        "sanitised": list(answer.removed),
    }
