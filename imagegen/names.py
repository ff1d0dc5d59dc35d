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


def download_name(record: Mapping[str, Any]) -> str:
    """imagegen-<prompt slug>-<first 8 of the image id>.<format>"""
    image_id = re.sub(r"[^a-z0-9]", "", str(record["id"]).lower())[:8] or "image"
    fmt = str(record["format"]).lower()
    extension = fmt if fmt in ("png", "jpeg", "webp") else "img"
    return f"imagegen-{slug(str(record.get('prompt') or ''))}-{image_id}.{extension}"
