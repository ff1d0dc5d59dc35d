"""A reverse proxy that appends its headers to each request instead of replacing the client's: the way a
misconfigured SSO proxy behaves. Plain TCP on 127.0.0.1; it rewrites the head of the first request on each
connection (a websocket's handshake is one), then copies bytes both ways."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import free_port, wait_for_port


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


def _serve(port: int, upstream: int, appended: bytes, ready: threading.Event, stop: threading.Event) -> None:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            head = await client_reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            client_writer.close()
            return
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream)
        server_writer.write(head[:-2] + appended + b"\r\n")
        await server_writer.drain()
        await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        ready.set()
        async with server:
            while not stop.is_set():
                await asyncio.sleep(0.1)

    asyncio.run(main())


@contextmanager
def appending_proxy(upstream: int, headers: dict[str, str]) -> Iterator[str]:
    """The proxy's address, in front of the server on `upstream`, appending `headers` to every request."""
    port = free_port()
    appended = b"".join(f"{name}: {value}\r\n".encode() for name, value in headers.items())
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=_serve, args=(port, upstream, appended, ready, stop), daemon=True)
    thread.start()
    ready.wait(10)
    wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(5)
