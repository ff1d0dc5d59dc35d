"""A board as a zip: each image under its download name, in the board's order, and `manifest.json` saying
for each what made it (prompt, model, cost), where it came from (its lineage) and where its review stands."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from imagegen.boards import Board
from imagegen.localtime import utc_now_iso
from imagegen.names import download_name, slug

MANIFEST = "manifest.json"


def manifest_entry(item: dict[str, Any], record: dict[str, Any], ancestors: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "file": download_name(record),
        "id": record["id"],
        "key": record["key"],
        "prompt": record.get("prompt", ""),
        "sent_prompt": record.get("directed_prompt", ""),
        "model": record.get("model", ""),
        "preset": record.get("preset", ""),
        "size": record.get("size", ""),
        "quality": record.get("quality", ""),
        "format": record.get("format", ""),
        "cost_usd": record.get("cost_usd"),
        "made_by": record.get("user", ""),
        "made_at": record.get("created_at", ""),
        "lineage": [{"id": a["id"], "key": a["key"], "prompt": a.get("prompt", "")} for a in ancestors],
        "added_by": item["added_by"],
        "added_at": item["added_at"],
        "review": item["review"] or "not submitted",
        "reviewed_by": item["reviewed_by"] or "",
        "reviewed_at": item["reviewed_at"] or "",
    }


def board_zip(
    board: Board,
    items: list[dict[str, Any]],
    original: Callable[[dict[str, Any]], bytes],
    ancestors: Callable[[str], list[dict[str, Any]]],
    exported_by: str,
) -> bytes:
    """The zip of a board's images (already checked as visible to `exported_by`). Images are stored as they
    are (they are compressed already); the manifest is deflated."""
    buffer = io.BytesIO()
    entries: list[dict[str, Any]] = []
    with zipfile.ZipFile(buffer, "w") as archive:
        for item in items:
            record = item["record"]
            entry = manifest_entry(item, record, ancestors(record["key"]))
            if any(e["file"] == entry["file"] for e in entries):  # two ids alike in their first 8 characters
                stem, dot, extension = entry["file"].rpartition(".")
                entry["file"] = f"{stem}-{len(entries) + 1}{dot}{extension}"
            archive.writestr(entry["file"], original(record), compress_type=zipfile.ZIP_STORED)
            entries.append(entry)
        manifest = {
            "board": {"id": board.id, "name": board.name, "description": board.description, "owner": board.owner},
            "exported_by": exported_by,
            "exported_at": utc_now_iso(),
            "images": entries,
        }
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def board_zip_name(board: Board) -> str:
    return f"imagegen-board-{slug(board.name)}-{board.id}.zip"
