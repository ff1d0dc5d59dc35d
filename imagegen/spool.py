"""A paid image's first home: durable local files written as soon as the provider answers.

An entry is a folder `{spool}/{request-id}/`. Before the provider is called, `intent.json` says what the
request is (and an edit's inputs are written); the provider's answer then goes to `answer.raw` byte by
byte as it arrives (see providers/answers.py). Then two phases, each ending with an atomic replace of
`entry.json`:
  raw   the provider's answer exactly as it came (`raw-{i}.bin`), with what is needed to finish the
        request (the request, the user, the directed prompt, the cost): written before the bytes are even
        checked, so that a crash right after the provider answered loses nothing;
  kept  the verified images, their thumbnails and their records, ready to upload.
Only when the store confirms every object is the entry removed. A folder with an intent and an answer but
no `entry.json` is a process that died after the answer arrived: reconcile makes the raw entry from them.
A folder with neither an entry nor an answer holds nothing that can be settled and is cleaned up.

Whoever settles an entry holds an exclusive lock on its folder: the pipeline from the moment it creates
the entry, a reconcile only if nobody else holds it, so the two never finish one entry at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagegen.errors import StorageError
from imagegen.files import sync_dir, write_synced

ENTRY_FILE = "entry.json"
INTENT_FILE = "intent.json"
ANSWER_FILE = "answer.raw"
RAW, KEPT = "raw", "kept"
#: free space kept beyond what an answer needs, so the database and logs on the same disk keep working
HEADROOM_BYTES = 64 * 1024 * 1024


@dataclass
class SpoolEntry:
    request_id: str
    folder: Path
    data: dict[str, Any]
    _lock_fd: int | None = field(default=None, repr=False)

    @property
    def phase(self) -> str:
        return str(self.data.get("phase", KEPT))

    def raw_images(self) -> list[bytes]:
        return [(self.folder / name).read_bytes() for name in self.data.get("raw_files", [])]

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops its lock
            self._lock_fd = None


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def check_room(self, needed_bytes: int) -> None:
        """Refuse, before anything is spent, when the spool could not keep the answer: it must be writable
        and have room for it. Raises StorageError saying what to fix."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{os.getpid()}-{time.monotonic_ns()}"
            probe.write_bytes(b"ok")  # writability is the question here: no fsync on the hot path
            probe.unlink(missing_ok=True)  # written: a sweep of leftovers may have taken it since
            free = shutil.disk_usage(self.root).free
        except OSError as exc:
            raise StorageError(
                f"This server cannot keep images right now ({exc.strerror or exc}). Nothing was charged; "
                "ask an admin to check the data folder's permissions and disk."
            ) from None
        if free < needed_bytes + HEADROOM_BYTES:
            raise StorageError(
                f"This server's disk is nearly full ({free // 2**20} MiB free). Nothing was charged; ask an admin "
                "to free disk space."
            )

    def begin(self, request_id: str, intent: dict[str, Any], inputs: list[tuple[str, bytes]] = ()) -> SpoolEntry:
        """Before the provider is called: the entry's folder, locked for the caller, with what the request is
        and an edit's inputs, so that an answer that arrives (into `answer_path`) can be finished by reconcile
        if this process dies."""
        entry = self._locked(request_id)
        try:
            for name, payload in inputs:
                write_synced(entry.folder / name, payload)
            write_synced(entry.folder / INTENT_FILE, json.dumps(intent).encode())
            sync_dir(entry.folder)
            sync_dir(self.root)
        except BaseException:
            entry.release()
            raise
        return entry

    def answer_path(self, request_id: str) -> Path:
        return self.root / request_id / ANSWER_FILE

    def _locked(self, request_id: str) -> SpoolEntry:
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root / request_id
        folder.mkdir(exist_ok=True)
        lock_fd = os.open(folder, os.O_RDONLY)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        return SpoolEntry(request_id, folder, {}, lock_fd)

    def keep_raw(
        self,
        request_id: str,
        answers: list[bytes],
        data: dict[str, Any],
        inputs: list[tuple[str, bytes]] = (),
        *,
        begun: SpoolEntry | None = None,
    ) -> SpoolEntry:
        """Durably keep the provider's answer (and an edit's inputs, by file name) before anything else looks
        at it; the entry comes back locked by the caller (with the lock `begun` took, when given), who
        releases it once the entry is settled."""
        locked = begun if begun is not None else self._locked(request_id)
        folder, lock_fd = locked.folder, locked._lock_fd
        try:
            names = []
            for index, payload in enumerate(answers):
                name = f"raw-{index}.bin"
                write_synced(folder / name, payload)
                names.append(name)
            for name, payload in inputs:
                write_synced(folder / name, payload)
            entry = SpoolEntry(request_id, folder, {}, lock_fd)
            self._write_data(entry, {**data, "phase": RAW, "raw_files": names, "request_id": request_id})
            sync_dir(self.root)
            (folder / ANSWER_FILE).unlink(missing_ok=True)  # its images are the raw files now
        except BaseException:
            locked.release()
            raise
        locked._lock_fd = None  # the lock now belongs to the entry returned
        return entry

    def keep(self, entry: SpoolEntry, files: list[tuple[str, bytes]], data: dict[str, Any]) -> None:
        """The second phase: the checked images, their thumbnails and records, replacing the raw answer."""
        for name, payload in files:
            write_synced(entry.folder / name, payload)
        listed = [{"file": name, "bytes": len(payload)} for name, payload in files]
        superseded = set(entry.data.get("raw_files", [])) - {name for name, _ in files}
        self._write_data(entry, {**data, "phase": KEPT, "images": listed, "request_id": entry.request_id})
        for name in superseded:
            (entry.folder / name).unlink(missing_ok=True)

    def _write_data(self, entry: SpoolEntry, data: dict[str, Any]) -> None:
        staging = entry.folder / f".{ENTRY_FILE}.tmp"
        write_synced(staging, json.dumps(data).encode())
        os.replace(staging, entry.folder / ENTRY_FILE)
        sync_dir(entry.folder)
        entry.data = data

    @contextmanager
    def claim(self, request_id: str) -> Iterator[SpoolEntry | None]:
        """The entry, locked for the caller; None when it is gone or someone else is settling it."""
        lock_fd = _try_lock(self.root / request_id)
        if lock_fd is None:
            yield None
            return
        try:
            entry = self.get(request_id)
            if entry is not None:
                entry._lock_fd = None  # the claim, not the entry, owns this lock
            yield entry
        finally:
            os.close(lock_fd)

    def get(self, request_id: str) -> SpoolEntry | None:
        folder = self.root / request_id
        try:
            data = json.loads((folder / ENTRY_FILE).read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None
        return SpoolEntry(request_id, folder, data)

    @contextmanager
    def claim_answered(self, request_id: str) -> Iterator[tuple[dict[str, Any], Path, SpoolEntry] | None]:
        """An entry whose process died after its answer arrived: its intent, its answer file, and the folder
        locked for the caller (as a SpoolEntry to pass to keep_raw); None when someone holds it or it is no
        longer such an entry."""
        lock_fd = _try_lock(self.root / request_id)
        if lock_fd is None:
            yield None
            return
        folder = self.root / request_id
        locked = SpoolEntry(request_id, folder, {}, lock_fd)
        try:
            if (folder / ENTRY_FILE).exists() or not (folder / ANSWER_FILE).exists():
                yield None
                return
            yield json.loads((folder / INTENT_FILE).read_text()), folder / ANSWER_FILE, locked
        finally:
            locked.release()

    def answered(self) -> list[str]:
        """Request ids whose answer arrived but whose process died before keeping it as an entry."""
        return self._folders(lambda p: not (p / ENTRY_FILE).exists() and _answered(p))

    def pending(self) -> list[str]:
        """Request ids of the entries waiting here (raw or kept)."""
        return self._folders(lambda p: (p / ENTRY_FILE).exists())

    def _folders(self, wanted: Callable[[Path], bool]) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".") and wanted(p))

    def remove(self, request_id: str) -> None:
        shutil.rmtree(self.root / request_id, ignore_errors=True)

    def clean_leftovers(self) -> list[str]:
        """Remove what crashed writes left: probes, and folders with no entry (hidden staging folders of
        older versions, entries whose first phase never finished) that no one holds. Returns their names."""
        if not self.root.exists():
            return []
        removed = []
        for path in self.root.iterdir():
            if path.name.startswith(".probe-"):
                path.unlink(missing_ok=True)
                removed.append(path.name)
            elif path.is_dir() and not (path / ENTRY_FILE).exists() and not _answered(path):
                lock_fd = _try_lock(path)
                if lock_fd is not None:  # nobody is writing it
                    shutil.rmtree(path, ignore_errors=True)
                    os.close(lock_fd)
                    removed.append(path.name)
        return removed


def _answered(folder: Path) -> bool:
    return (folder / ANSWER_FILE).exists() and (folder / INTENT_FILE).exists()


def _try_lock(folder: Path) -> int | None:
    """An exclusive lock on a folder, as an open descriptor (closing it unlocks); None when the folder is
    gone or someone else holds the lock."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
