"""A paid image's first home: a durable local file written before any upload is tried.

An entry is a folder `{spool}/{request-id}/` holding each image's bytes and `entry.json` (the records
and what the ledger needs to settle). It is built in a hidden folder and renamed into place, so an entry
is either whole or absent; only when the store confirms every object is it removed.

Whoever settles an entry holds an exclusive lock on its folder: the pipeline from the moment it writes
the entry, a reconcile only if nobody else holds it, so the two never upload and remove one entry at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagegen.files import sync_dir, write_synced

ENTRY_FILE = "entry.json"


@dataclass
class SpoolEntry:
    request_id: str
    folder: Path
    data: dict[str, Any]
    _lock_fd: int | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops its lock
            self._lock_fd = None


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def write(self, request_id: str, images: list[tuple[str, bytes]], data: dict[str, Any]) -> SpoolEntry:
        """Durably keep the images (file name, bytes) and their data; the entry comes back locked by the
        caller, who releases it once the entry is settled."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / request_id
        staging = self.root / f".staging-{request_id}-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        lock_fd = os.open(staging, os.O_RDONLY)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # taken before the rename: the lock follows the folder
        try:
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
        except BaseException:
            os.close(lock_fd)
            raise
        return SpoolEntry(request_id, final, data, lock_fd)

    @contextmanager
    def claim(self, request_id: str) -> Iterator[SpoolEntry | None]:
        """The entry, locked for the caller; None when it is gone or someone else is settling it."""
        try:
            lock_fd = os.open(self.root / request_id, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            yield None
            return
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            yield None
            return
        try:
            yield self.get(request_id)
        finally:
            os.close(lock_fd)

    def get(self, request_id: str) -> SpoolEntry | None:
        folder = self.root / request_id
        try:
            data = json.loads((folder / ENTRY_FILE).read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None
        return SpoolEntry(request_id, folder, data)

    def pending(self) -> list[str]:
        """Request ids of the whole entries waiting here."""
        if not self.root.exists():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / ENTRY_FILE).exists()
        )

    def remove(self, request_id: str) -> None:
        shutil.rmtree(self.root / request_id, ignore_errors=True)
