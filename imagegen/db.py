"""The database every part of the engine shares: SQLite (one file, one server) or PostgreSQL (several
replicas), through SQLAlchemy Core. Connections, write transactions and migrations live here; where the
two databases differ, imagegen/dialects.py says how.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url

from imagegen.dialects import POSTGRESQL, REFUSED, SQLITE, Dialect
from imagegen.errors import LedgerUnavailable, SettingsError

BUSY_TIMEOUT_MS = 5000
#: connections one process keeps to PostgreSQL: its workers and its pages' reads share them
POOL_SIZE, POOL_OVERFLOW = 10, 30
#: every replica that migrates at once waits on this lock, so the schema is changed exactly once
MIGRATION_LOCK = 7_318_461
Params = Mapping[str, Any] | None
#: PostgreSQL's SQLSTATE for a row whose key another row already has
UNIQUE_VIOLATION = "23505"


class Refused(Exception):
    """A statement undid itself by calling dialects.REFUSE; the message is its reason."""


class KeyTaken(Exception):
    """A statement would have added a row whose key another row already has; it changed nothing."""


class Row(tuple):
    """A result row read by position or by column name, as `dict(row)` too."""

    _names: dict[str, int]

    def __new__(cls, values: Iterable[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> Iterable[str]:
        return self._names.keys()


class Cursor:
    """What one statement returned."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        description = cursor.description
        self._names = {column[0]: i for i, column in enumerate(description)} if description else {}

    def fetchone(self) -> Row | None:
        if not self._names:  # a statement that returns no rows (psycopg refuses to fetch from one)
            return None
        row = self._cursor.fetchone()
        return None if row is None else Row(row, self._names)

    def fetchall(self) -> list[Row]:
        if not self._names:
            return []
        return [Row(row, self._names) for row in self._cursor.fetchall()]

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount


class Session:
    """One connection, in a write transaction or reading; statements take named parameters (`:name`).

    SQLAlchemy compiles each statement once for the database's driver (its parameter style, its quoting
    of `%`); the driver then runs it directly, which keeps a reservation's ten statements cheap."""

    def __init__(self, connection: sa.Connection, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect
        self._driver = connection.connection.driver_connection
        self._compiled = _compiler(connection.dialect)

    def execute(self, sql: str, params: Params = None) -> Cursor:
        statement, order = self._compiled(sql)
        cursor = self._driver.cursor()
        cursor.execute(statement, _arguments(params or {}, order))
        return Cursor(cursor)

    def executemany(self, sql: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            statement, order = self._compiled(sql)
            self._driver.cursor().executemany(statement, [_arguments(row, order) for row in rows])


def _arguments(params: Mapping[str, Any], order: tuple[str, ...] | None) -> Any:
    return dict(params) if order is None else tuple(params[name] for name in order)


@functools.cache
def _compiler(dialect: sa.Dialect) -> Any:
    @functools.lru_cache(maxsize=4096)
    def compiled(sql: str) -> tuple[str, tuple[str, ...] | None]:
        """The statement as the driver takes it, and for a positional driver the parameters' order."""
        clause = sa.text(sql).compile(dialect=dialect)
        return clause.string, (tuple(clause.positiontup or ()) if dialect.positional else None)

    return compiled


def database_url(target: str | Path) -> URL:
    """The URL to open: a path (or an empty setting's default file) means SQLite, `postgresql://` PostgreSQL."""
    if isinstance(target, Path):
        return URL.create("sqlite", database=str(target))
    if target.startswith("postgres://"):
        target = "postgresql://" + target.removeprefix("postgres://")
    try:
        url = make_url(target)
    except sa.exc.ArgumentError:
        raise SettingsError("IMAGEGEN_DATABASE_URL is not a database URL (postgresql://user@host/db).") from None
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite":
        return url
    raise SettingsError(f"IMAGEGEN_DATABASE_URL names {url.get_backend_name()!r}: use postgresql:// or a SQLite file.")


class Database:
    """SQLite in WAL mode, whose writes begin IMMEDIATE, or PostgreSQL at READ COMMITTED, whose writes lock
    the rows they change (see dialects.Dialect.lock_row)."""

    def __init__(
        self,
        target: str | Path,
        *,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        prepare: Callable[[Database], object] | None = None,
    ) -> None:
        self.url = database_url(target)
        #: run once, before this process's first read or write: the schema's migrations (schema.open_database)
        self._prepare = prepare
        self.busy_timeout_ms = busy_timeout_ms
        self.dialect = POSTGRESQL if self.url.get_backend_name() == "postgresql" else SQLITE
        self.path = Path(self.url.database or "") if not self.dialect.postgres else None
        self._migrated = False
        self._migrate_lock = threading.Lock()
        self._local = threading.local()
        self.engine = self._postgres_engine() if self.dialect.postgres else self._sqlite_engine()
        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        #: what a failing database raises: SQLAlchemy's wrapped errors, the pool's timeout, the driver's own
        self._failures = (sa.exc.DBAPIError, sa.exc.TimeoutError, self.engine.dialect.loaded_dbapi.Error)

    def describe(self) -> str:
        """Where the data lives, to show an admin: a file, or the server without its password."""
        if self.path is not None:
            return str(self.path)
        return self.url.set(drivername="postgresql").render_as_string(hide_password=True)

    # -- engines ---------------------------------------------------------------------------------

    def _sqlite_engine(self) -> sa.Engine:
        path = self.path
        assert path is not None
        timeout = self.busy_timeout_ms / 1000
        engine = sa.create_engine(
            self.url,
            # The driver's own transaction handling is off: write() says BEGIN IMMEDIATE itself.
            isolation_level="AUTOCOMMIT",
            connect_args={"timeout": timeout, "check_same_thread": False},
            poolclass=sa.pool.QueuePool,
            pool_size=POOL_SIZE,
            max_overflow=-1,
        )

        @event.listens_for(engine, "do_connect")
        def make_folder(*_: Any) -> None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # as the driver would say it, so it is handled as every database failure
                raise sqlite3.OperationalError(f"cannot create the folder {path.parent} ({exc.strerror})") from exc

        @event.listens_for(engine, "connect")
        def prepare(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
            _use_wal(dbapi_connection, timeout)
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        return engine

    def _postgres_engine(self) -> sa.Engine:
        # A lock held longer than the busy timeout is a stuck writer: give up as SQLite would, not hang.
        options = f"-c lock_timeout={self.busy_timeout_ms} -c idle_in_transaction_session_timeout=60000"
        return sa.create_engine(
            self.url,
            connect_args={"connect_timeout": max(1, self.busy_timeout_ms // 1000), "options": options},
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_timeout=self.busy_timeout_ms / 1000,
            pool_recycle=1800,
        )

    # -- using it --------------------------------------------------------------------------------

    def _ready(self) -> None:
        if not self._migrated:
            with self._migrate_lock:
                if not self._migrated:
                    if self._prepare is not None:
                        self._prepare(self)
                    self._migrated = True

    @contextmanager
    def _session(self, engine: sa.Engine) -> Iterator[Session]:
        """PostgreSQL: a connection from the pool for this while. SQLite: this thread's own connection,
        kept open, since opening one costs more than most statements."""
        if self.dialect.postgres:
            with engine.connect() as connection:
                session = Session(connection, self.dialect)
                try:
                    yield session
                except self._failures:
                    if session._driver.broken or session._driver.closed:
                        connection.invalidate()  # the server went away: the pool must not hand this one out again
                    raise
            return
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = Session(engine.connect(), self.dialect)
        yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: all of it is kept, or none of it."""
        self._ready()
        try:
            with self._session(self.engine) as session, _transaction(session):
                yield session
        except self._failures as exc:
            raise LedgerUnavailable(_unavailable(exc)) from exc

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A connection for a few reads, each seeing what was committed when it ran."""
        self._ready()
        try:
            with self._session(self._reader) as session:
                yield session
        except self._failures as exc:
            raise LedgerUnavailable(_unavailable(exc)) from exc

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read transaction: every statement in it sees the database as it was at its first read."""
        self._ready()
        try:
            with self.engine.connect() as connection:
                session = Session(connection, self.dialect)
                if self.dialect.postgres:
                    connection.execution_options(isolation_level="REPEATABLE READ")
                    with connection.begin():
                        yield session
                else:
                    with _ExplicitTransaction(session, "BEGIN"):
                        yield session
        except self._failures as exc:
            raise LedgerUnavailable(_unavailable(exc)) from exc

    def statement(self, sql: str, params: Params = None) -> Row | None:
        """Run one statement that is atomic by itself, committed as it ends (on PostgreSQL, no BEGIN or
        COMMIT: one round trip); return its first row. Raises Refused or KeyTaken, having changed nothing,
        when the statement refuses itself or repeats a key."""
        self._ready()
        try:
            with self._session(self._reader) as session:
                return session.execute(sql, params).fetchone()
        except self._failures as exc:
            driver = getattr(exc, "orig", None) or exc
            code = getattr(driver, "sqlstate", None)
            if code == REFUSED:
                raise Refused(getattr(getattr(driver, "diag", None), "message_primary", None) or str(driver)) from exc
            if code == UNIQUE_VIOLATION:
                raise KeyTaken(str(driver).splitlines()[0]) from exc
            raise LedgerUnavailable(_unavailable(exc)) from exc

    def query(self, sql: str, params: Params = None) -> list[Row]:
        with self.read() as session:
            return session.execute(sql, params).fetchall()

    @contextmanager
    def migrating(self) -> Iterator[Session]:
        """One transaction for the schema's steps, with `_migrations` in place; on PostgreSQL one server at a
        time, so replicas starting together apply each step once."""
        try:
            with self.engine.connect() as connection:
                session = Session(connection, self.dialect)
                with _transaction(session):
                    if self.dialect.postgres:
                        session.execute("SELECT pg_advisory_xact_lock(:lock)", {"lock": MIGRATION_LOCK})
                    session.execute(
                        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION "
                        "NOT NULL)"
                    )
                    yield session
        except self._failures as exc:
            raise LedgerUnavailable(_unavailable(exc)) from exc

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.connection.close()
            self._local.session = None
        self.engine.dispose()


class _ExplicitTransaction:
    """SQLite's transaction, begun and ended by statements the driver does not second-guess."""

    def __init__(self, session: Session, begin: str) -> None:
        self.driver = session._driver
        self.begin = begin

    def __enter__(self) -> None:
        self.driver.execute(self.begin)

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            try:
                self.driver.execute("COMMIT")
                return
            except sqlite3.Error:
                if self.driver.in_transaction:
                    self.driver.execute("ROLLBACK")
                raise
        if self.driver.in_transaction:
            self.driver.execute("ROLLBACK")


def _transaction(session: Session) -> Any:
    if session.dialect.postgres:
        return session.connection.begin()
    return _ExplicitTransaction(session, "BEGIN IMMEDIATE")


def _use_wal(dbapi_connection: Any, timeout: float) -> None:
    # Switching a new file to WAL takes a lock that SQLite's busy handler does not wait for: when two
    # connections open a fresh database at once, one of them is told "locked" and must ask again.
    deadline = time.monotonic() + timeout
    while True:
        try:
            if dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _unavailable(exc: Exception) -> str:
    # The driver's own words, never SQLAlchemy's, which quote the statement and its parameters.
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return "The database is read-only, so nothing can be generated or charged. Ask an admin to fix its permissions."
    if "locked" in lowered or "busy" in lowered or "lock timeout" in lowered or "queuepool" in lowered:
        return "The database is busy and did not free up in time. Nothing was generated or charged; try again."
    return f"The database cannot be used ({text}). Nothing was generated or charged."
