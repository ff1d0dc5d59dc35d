"""A paid image's first home: a durable local file written before any upload is tried.

An entry is a folder `{spool}/{request-id}/` holding each image's bytes and `entry.json` (the records
and what the ledger needs to settle). It is built in a hidden folder and renamed into place, so an entry
is either whole or absent; only when the store confirms every object is it removed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagegen.files import sync_dir, write_synced

ENTRY_FILE = "entry.json"


@dataclass
class SpoolEntry:
    request_id: str
    folder: Path
    data: dict[str, Any]

    def image_path(self, index: int) -> Path:
        return self.folder / self.data["images"][index]["file"]

    def image_bytes(self, index: int) -> bytes:
        return self.image_path(index).read_bytes()


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def write(self, request_id: str, images: list[tuple[str, bytes]], data: dict[str, Any]) -> SpoolEntry:
        """Durably keep the images (file name, bytes) and their data; return the entry."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / request_id
        staging = self.root / f".staging-{request_id}-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        entries = []
        for name, payload in images:
            write_synced(staging / name, payload)
            entries.append({"file": name, "bytes": len(payload)})
        data = {**data, "images": entries, "request_id": request_id}
        write_synced(staging / ENTRY_FILE, json.dumps(data).encode())
        sync_dir(staging)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        sync_dir(self.root)
        return SpoolEntry(request_id, final, data)

    def get(self, request_id: str) -> SpoolEntry | None:
        folder = self.root / request_id
        try:
            data = json.loads((folder / ENTRY_FILE).read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None
        return SpoolEntry(request_id, folder, data)

    def pending(self) -> list[SpoolEntry]:
        if not self.root.exists():
            return []
        entries = (self.get(p.name) for p in sorted(self.root.iterdir()) if p.is_dir() and not p.name.startswith("."))
        return [e for e in entries if e is not None]

    def update(self, entry: SpoolEntry) -> None:
        write_synced(entry.folder / ".entry.tmp", json.dumps(entry.data).encode())
        os.replace(entry.folder / ".entry.tmp", entry.folder / ENTRY_FILE)

    def remove(self, request_id: str) -> None:
        shutil.rmtree(self.root / request_id, ignore_errors=True)
