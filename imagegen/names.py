"""What a downloaded image is called: the same on every page, readable, and safe on every file system."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

SLUG_WORDS = 6
SLUG_CHARS = 48


def slug(text: str) -> str:
    """The first words of a text in lower-case ASCII, joined by hyphens; "image" when none are left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())[:SLUG_WORDS]
    joined = "-".join(words)[:SLUG_CHARS].strip("-")
    return joined or "image"


#: the longest text alternative: a screen reader reads it whole before the next thing on the page
ALT_CHARS = 160


def alt_text(record: Mapping[str, Any], what: str = "Image") -> str:
    """An image's text alternative, for those who do not see it: what it is, and the prompt it was made
    from (cut at a word); "Image" alone for a record without one."""
    prompt = " ".join(str(record.get("prompt") or "").split())
    if not prompt:
        return what
    if len(prompt) > ALT_CHARS:
        prompt = prompt[:ALT_CHARS].rsplit(" ", 1)[0] + "..."
    return f"{what}: {prompt}"


def counted(count: int, noun: str) -> str:
    """A count and its noun as people write them: "1 image", "2 images", "1,200 images"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def download_name(record: Mapping[str, Any]) -> str:
    """imagegen-<prompt slug>-<first 8 of the image id>.<format>"""
    image_id = re.sub(r"[^a-z0-9]", "", str(record["id"]).lower())[:8] or "image"
    fmt = str(record["format"]).lower()
    extension = fmt if fmt in ("png", "jpeg", "webp", "gif", "svg") else "img"
    return f"imagegen-{slug(str(record.get('prompt') or ''))}-{image_id}.{extension}"


def rendition_name(record: Mapping[str, Any], edge: int) -> str:
    """A logo's PNG rendition: the download name, with its size: imagegen-<slug>-<id>-<edge>px.png"""
    stem = download_name(record).rsplit(".", 1)[0]
    return f"{stem}-{edge}px.png"
