"""Writing files so that a crash or power loss leaves them whole or absent."""

from __future__ import annotations

import os
from pathlib import Path


def write_synced(path: Path, payload: bytes) -> None:
    with open(path, "wb") as out:
        out.write(payload)
        out.flush()
        os.fsync(out.fileno())


def sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
