"""A provider's answer as it arrives over HTTP: capped as it is read, whatever its shape (JSON, stream
events), and written to a file byte by byte before the SDK sees it, so that a process killed after the
last byte arrived leaves the whole answer on disk for reconcile to keep and charge.

The file holds one line of JSON (the status and content type), then the body exactly as it came. Each
answer in a thread's render replaces the one before (a 429's body is replaced by the retry's answer)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

#: the line that ends the head of an answer file
HEAD_END = b"\n"
#: an answer being written is synced to disk each time this much more of it has arrived
SYNC_EVERY_BYTES = 1024 * 1024


class AnswerRefused(httpx2.TransportError):
    """The answer was cut off here: larger than anything the request could need, or compressed."""


@dataclass
class _Expectation:
    path: Path | None
    max_bytes: int
    refused: str = ""
    received: int = 0
    #: seconds from the last chunk's arrival to the answer being written (a killed process loses nothing
    #: after that: the kernel holds it) and to its being durable (fsynced: power loss loses nothing either)
    last_byte_to_written_s: float | None = None
    last_byte_to_durable_s: float | None = None


class AnswerTap(httpx2.BaseTransport):
    """Wraps the SDK's transport: every answer read in a thread that `expecting` marks is counted against
    its cap and, where a file is named, written there as it arrives."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner
        self._local = threading.local()

    @contextmanager
    def expecting(self, path: Path | None, max_bytes: int) -> Iterator[_Expectation]:
        expectation = _Expectation(path, max_bytes)
        self._local.expectation = expectation
        try:
            yield expectation
        finally:
            self._local.expectation = None

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        expectation: _Expectation | None = getattr(self._local, "expectation", None)
        if expectation is None:
            return self.inner.handle_request(request)
        # A compressed body could inflate past any cap counted on the wire: ask for it as it is.
        request.headers["Accept-Encoding"] = "identity"
        response = self.inner.handle_request(request)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            response.close()
            expectation.refused = f"the provider compressed its answer ({encoding[:20]}) though asked not to"
            raise AnswerRefused(expectation.refused, request=request)
        stream = _TappedStream(response.stream, expectation, response.status_code, response.headers, request)
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=stream,
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self.inner.close()


class _TappedStream(httpx2.SyncByteStream):
    def __init__(
        self,
        inner: httpx2.SyncByteStream,
        expectation: _Expectation,
        status: int,
        headers: httpx2.Headers,
        request: httpx2.Request,
    ) -> None:
        self.inner = inner
        self.expectation = expectation
        self.request = request
        self.fd: int | None = None
        if expectation.path is not None:
            expectation.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(expectation.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            head = {"status": status, "content_type": headers.get("content-type", "")}
            os.write(self.fd, json.dumps(head).encode() + HEAD_END)
        expectation.received = 0

    def __iter__(self) -> Iterator[bytes]:
        expectation = self.expectation
        arrived = written = 0.0
        unsynced = 0
        for chunk in self.inner:
            arrived = time.perf_counter()
            expectation.received += len(chunk)
            if expectation.received > expectation.max_bytes:
                expectation.refused = f"the provider's answer is larger than {expectation.max_bytes // 2**20} MiB"
                raise AnswerRefused(expectation.refused, request=self.request)
            if self.fd is not None:
                _write_all(self.fd, chunk)
                written = time.perf_counter()
                unsynced += len(chunk)
                if unsynced >= SYNC_EVERY_BYTES:  # so the last fsync has little left to do
                    os.fdatasync(self.fd)
                    unsynced = 0
            yield chunk
        if self.fd is not None:
            expectation.last_byte_to_written_s = written - arrived
            os.fsync(self.fd)  # the whole answer is on disk before the SDK parses a byte of it
            expectation.last_byte_to_durable_s = time.perf_counter() - arrived

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.inner.close()


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_answer(path: Path) -> tuple[int, str, bytes]:
    """A kept answer: its status, content type and body."""
    raw = path.read_bytes()
    head, _, body = raw.partition(HEAD_END)
    fields = json.loads(head)
    return int(fields["status"]), str(fields["content_type"]), body
