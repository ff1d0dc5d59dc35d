"""A real PostgreSQL server for the tests: Debian's, started in a temporary folder on 127.0.0.1.

PostgreSQL refuses to run as root, so under root (as in CI) the server runs as `nobody`. Every test that
asks for it gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

UNPRIVILEGED = "nobody"
SUPERUSER = "imagegen"


def server_binaries() -> Path:
    """Where Debian put initdb and pg_ctl (the newest installed major version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError("PostgreSQL's server is not installed: `make postgres` installs Debian's package.")


class PostgresServer:
    def __init__(self, *, durable: bool = False) -> None:
        #: a benchmark measures with PostgreSQL's defaults; the tests skip flushing to disk, which they never need
        self.durable = durable
        self.folder = Path(tempfile.mkdtemp(prefix="imagegen-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.bin = server_binaries()
        self.as_root = os.geteuid() == 0

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", UNPRIVILEGED, "--"] if self.as_root else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, cwd=self.folder, timeout=120)

    def start(self) -> PostgresServer:
        if self.as_root:
            user = pwd.getpwnam(UNPRIVILEGED)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8")
        self.resume()
        return self

    def _options(self) -> str:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=300"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        return options

    def pause(self) -> None:
        """Stop the server, keeping its data: what clients see when the database goes away."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        log = str(self.folder / "log")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", self._options(), "-l", log, "-w", "start")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
