"""The SQLite file every part of the engine shares: connections, write transactions, migrations."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from imagegen.errors import LedgerUnavailable

BUSY_TIMEOUT_MS = 5000
Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


class Database:
    """One SQLite file in WAL mode; a connection per thread; writes begin IMMEDIATE."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._migrated = False
        self._migrate_lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        conn = self._open()
        if not self._migrated:
            with self._migrate_lock:
                if not self._migrated:
                    self.migrate(conn)
        return conn

    def _open(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (without migrating)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
                )
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
                _use_wal(conn, self.busy_timeout_ms / 1000)
                conn.execute("PRAGMA synchronous=NORMAL")
            except (sqlite3.Error, OSError) as exc:
                raise LedgerUnavailable(f"The database at {self.path} cannot be opened ({exc}).") from exc
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the write lock from its first statement."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise LedgerUnavailable(_unavailable(exc)) from exc
        try:
            yield conn
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise LedgerUnavailable(_unavailable(exc)) from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise LedgerUnavailable(_unavailable(exc)) from exc

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        try:
            return self.connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise LedgerUnavailable(_unavailable(exc)) from exc

    def migrate(self, conn: sqlite3.Connection | None = None) -> list[str]:
        """Apply the migrations this file has not had yet; return their names."""
        conn = conn or self._open()
        applied: list[str] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
            done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
            wrapped = sqlite_utils.Database(conn)
            for name, step in MIGRATIONS:
                if name not in done:
                    step(wrapped)
                    conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
                    applied.append(name)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise LedgerUnavailable(_unavailable(exc)) from exc
        self._migrated = True
        return applied

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    # Switching a new file to WAL takes a lock that SQLite's busy handler does not wait for: when two
    # connections open a fresh database at once, one of them is told "locked" and must ask again.
    deadline = time.monotonic() + timeout
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _unavailable(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return "The database is read-only, so nothing can be generated or charged. Ask an admin to fix its permissions."
    if "locked" in text or "busy" in text:
        return "The database is busy and did not free up in time. Nothing was generated or charged; try again."
    return f"The database cannot be used ({text}). Nothing was generated or charged."


# The schema, one small step at a time; each runs once per database file, in order.


@migration
def m001_ledger(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE generations (
            id TEXT PRIMARY KEY,
            user TEXT NOT NULL,
            day TEXT NOT NULL,
            created_at TEXT NOT NULL,
            preset TEXT NOT NULL,
            model TEXT NOT NULL,
            size TEXT NOT NULL,
            quality TEXT NOT NULL,
            n INTEGER NOT NULL,
            output_format TEXT NOT NULL,
            prompt TEXT NOT NULL,
            directed_prompt TEXT NOT NULL,
            estimated_micros INTEGER NOT NULL,
            actual_micros INTEGER,
            input_text_tokens INTEGER,
            input_image_tokens INTEGER,
            output_tokens INTEGER,
            status TEXT NOT NULL,
            error_code TEXT,
            error_message TEXT,
            expires_at REAL NOT NULL,
            settled_at TEXT,
            quota_images INTEGER NOT NULL,
            budget_micros INTEGER NOT NULL,
            direct_ms INTEGER, reserve_ms INTEGER, render_ms INTEGER, verify_ms INTEGER,
            store_ms INTEGER, total_ms INTEGER,
            image_keys TEXT,
            revised_prompt TEXT,
            provider TEXT
        )"""
    )
    db.execute("CREATE INDEX generations_day ON generations (day, model)")
    db.execute("CREATE INDEX generations_user_day ON generations (user, day)")
    db.execute("CREATE INDEX generations_open ON generations (status, expires_at)")
    db.execute("CREATE INDEX generations_created ON generations (created_at)")
    db.execute(
        """CREATE TABLE user_day (
            user TEXT NOT NULL, day TEXT NOT NULL,
            images_reserved INTEGER NOT NULL DEFAULT 0,
            images_committed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (user, day)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE team_day (
            day TEXT PRIMARY KEY,
            reserved_micros INTEGER NOT NULL DEFAULT 0,
            committed_micros INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE limits (
            kind TEXT NOT NULL, subject TEXT NOT NULL, value INTEGER NOT NULL,
            set_by TEXT NOT NULL, set_at TEXT NOT NULL,
            PRIMARY KEY (kind, subject)
        )"""
    )
    db.execute(
        """CREATE TABLE limit_changes (
            id INTEGER PRIMARY KEY, kind TEXT NOT NULL, subject TEXT NOT NULL,
            old_value INTEGER, new_value INTEGER NOT NULL, set_by TEXT NOT NULL, set_at TEXT NOT NULL
        )"""
    )


@migration
def m002_images_index(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE images (
            key TEXT PRIMARY KEY,
            id TEXT NOT NULL,
            request_id TEXT NOT NULL,
            user TEXT NOT NULL,
            created_at TEXT NOT NULL,
            model TEXT NOT NULL,
            preset TEXT NOT NULL,
            prompt TEXT NOT NULL,
            directed_prompt TEXT NOT NULL,
            revised_prompt TEXT,
            thumb_key TEXT NOT NULL,
            record_key TEXT NOT NULL,
            pending INTEGER NOT NULL DEFAULT 0,
            record TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX images_newest ON images (created_at DESC, key DESC)")
    db.execute("CREATE INDEX images_user ON images (user, created_at DESC)")


@migration
def m003_jobs(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            user TEXT NOT NULL,
            status TEXT NOT NULL,
            stage TEXT NOT NULL,
            stages TEXT NOT NULL DEFAULT '[]',
            request TEXT NOT NULL,
            result TEXT,
            error TEXT,
            error_code TEXT,
            charged INTEGER,
            partials INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            heartbeat_at REAL,
            owner TEXT
        )"""
    )
    db.execute("CREATE INDEX jobs_user ON jobs (user, created_at DESC)")
    db.execute("CREATE INDEX jobs_open ON jobs (status, heartbeat_at)")


@migration
def m004_analytics_indexes(db: sqlite_utils.Database) -> None:
    # Covering indexes for the admin's aggregates: each figure reads an index range, never the table.
    # The older narrow ones would tempt the planner into reading every row they point at.
    db.execute("DROP INDEX generations_day")
    db.execute("DROP INDEX generations_user_day")
    db.execute("CREATE INDEX generations_spend ON generations (day, status, model, actual_micros, n)")
    db.execute("CREATE INDEX generations_users ON generations (day, status, user, actual_micros, n)")
    db.execute("CREATE INDEX generations_presets ON generations (day, status, preset)")
    db.execute("CREATE INDEX generations_render ON generations (day, status, model, render_ms)")


@migration
def m005_settlement(db: sqlite_utils.Database) -> None:
    # sent_at: when the provider call started, so an unsettled reservation is known to be possibly billed.
    # request_id: the id the user (or page) gave; the row's id is that id scoped to its user.
    db.execute("ALTER TABLE generations ADD COLUMN sent_at TEXT")
    db.execute("ALTER TABLE generations ADD COLUMN request_id TEXT")


@migration
def m006_accounts(db: sqlite_utils.Database) -> None:
    # An account per identity-provider subject; `user` is the name rows are keyed by (see accounts.py).
    db.execute(
        """CREATE TABLE accounts (
            account TEXT PRIMARY KEY,
            user TEXT NOT NULL UNIQUE,
            display TEXT NOT NULL,
            email TEXT,
            is_admin INTEGER NOT NULL DEFAULT 0,
            seen_at REAL NOT NULL
        )"""
    )


@migration
def m007_form_drafts(db: sqlite_utils.Database) -> None:
    # The Generate form each user last left, so settings survive a page switch, a reload or another device.
    db.execute("CREATE TABLE form_drafts (user TEXT PRIMARY KEY, form TEXT NOT NULL, saved_at REAL NOT NULL)")


@migration
def m008_search_and_favourites(db: sqlite_utils.Database) -> None:
    # Word search over the index: the user's prompt and, on request, the whole directed prompt. Porter
    # stemming so "cats" finds "cat"; kept in step with `images` by triggers (an external-content table).
    db.execute(
        "CREATE VIRTUAL TABLE images_search USING fts5(prompt, directed_prompt, content='images', "
        "content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2')"
    )
    db.execute(
        "CREATE TRIGGER images_search_insert AFTER INSERT ON images BEGIN "
        "INSERT INTO images_search (rowid, prompt, directed_prompt) VALUES (new.rowid, new.prompt, new.directed_prompt); "
        "END"
    )
    db.execute(
        "CREATE TRIGGER images_search_delete AFTER DELETE ON images BEGIN "
        "INSERT INTO images_search (images_search, rowid, prompt, directed_prompt) "
        "VALUES ('delete', old.rowid, old.prompt, old.directed_prompt); "
        "DELETE FROM favourites WHERE key = old.key; "
        "END"
    )
    db.execute(
        "CREATE TRIGGER images_search_update AFTER UPDATE ON images BEGIN "
        "INSERT INTO images_search (images_search, rowid, prompt, directed_prompt) "
        "VALUES ('delete', old.rowid, old.prompt, old.directed_prompt); "
        "INSERT INTO images_search (rowid, prompt, directed_prompt) VALUES (new.rowid, new.prompt, new.directed_prompt); "
        "END"
    )
    db.execute("INSERT INTO images_search (images_search) VALUES ('rebuild')")
    # Each user's favourite images: a board to keep the good ones together.
    db.execute(
        "CREATE TABLE favourites (user TEXT NOT NULL, key TEXT NOT NULL, created_at REAL NOT NULL, "
        "PRIMARY KEY (user, key))"
    )
    db.execute("CREATE INDEX favourites_key ON favourites (key)")


@migration
def m009_limit_removal(db: sqlite_utils.Database) -> None:
    # A user's own quota can be taken away: its change is recorded with no new value (the default again).
    db.execute(
        """CREATE TABLE limit_changes_new (
            id INTEGER PRIMARY KEY, kind TEXT NOT NULL, subject TEXT NOT NULL,
            old_value INTEGER, new_value INTEGER, set_by TEXT NOT NULL, set_at TEXT NOT NULL
        )"""
    )
    db.execute("INSERT INTO limit_changes_new SELECT * FROM limit_changes")
    db.execute("DROP TABLE limit_changes")
    db.execute("ALTER TABLE limit_changes_new RENAME TO limit_changes")


#: The admin's figures read these daily totals, kept exact by triggers in the same transaction as every
#: change to the log, instead of scanning up to a million log rows per figure: (table, grouping columns,
#: counted columns with the value each generation adds). Open reservations are left out, so a reservation
#: (the hot path) costs no upkeep at all; the few open at any moment are read from the log.
ROLLUPS = (
    ("daily_model", ("day", "model", "status"), (("requests", "1"), ("images", "{r}.n"), ("micros", "{micros}"))),
    ("daily_user", ("day", "user", "status"), (("requests", "1"), ("images", "{r}.n"), ("micros", "{micros}"))),
    ("daily_preset", ("day", "preset", "status"), (("requests", "1"),)),
)
RENDER_BUCKET_MS = 100


def _rollup_statements(row: str, sign: str) -> list[str]:
    """Add (sign "+") or take away (sign "-") one settled generation row ("new" or "old") in every total."""
    statements = []
    micros = f"COALESCE({row}.actual_micros, 0)"
    for table, keys, counts in ROLLUPS:
        names = [*keys, *(name for name, _ in counts)]
        values = [f"{row}.{key}" for key in keys] + [
            f"{sign}({value.format(r=row, micros=micros)})" for _, value in counts
        ]
        updates = ", ".join(f"{name} = {name} + excluded.{name}" for name, _ in counts)
        statements.append(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(values)} WHERE {row}.status != 'reserved' "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates};"
        )
    statements.append(
        "INSERT INTO daily_render (day, model, bucket, renders, total_ms) "
        f"SELECT {row}.day, {row}.model, {row}.render_ms / {RENDER_BUCKET_MS}, {sign}1, {sign}{row}.render_ms "
        f"WHERE {row}.status = 'committed' AND {row}.render_ms IS NOT NULL "
        "ON CONFLICT (day, model, bucket) DO UPDATE SET renders = renders + excluded.renders, "
        "total_ms = total_ms + excluded.total_ms;"
    )
    return statements


@migration
def m010_analytics_rollups(db: sqlite_utils.Database) -> None:
    # Daily totals per model, user and preset (and a histogram of render times per model), so every Admin
    # figure reads a few thousand rows at most. Rows whose counts fall to zero stay; the figures skip them.
    db.execute(
        "CREATE TABLE daily_model (day TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL, requests INTEGER "
        "NOT NULL, images INTEGER NOT NULL, micros INTEGER NOT NULL, PRIMARY KEY (day, model, status)) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE daily_user (day TEXT NOT NULL, user TEXT NOT NULL, status TEXT NOT NULL, requests INTEGER "
        "NOT NULL, images INTEGER NOT NULL, micros INTEGER NOT NULL, PRIMARY KEY (day, user, status)) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE daily_preset (day TEXT NOT NULL, preset TEXT NOT NULL, status TEXT NOT NULL, "
        "requests INTEGER NOT NULL, PRIMARY KEY (day, preset, status)) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE daily_render (day TEXT NOT NULL, model TEXT NOT NULL, bucket INTEGER NOT NULL, "
        "renders INTEGER NOT NULL, total_ms INTEGER NOT NULL, PRIMARY KEY (day, model, bucket)) WITHOUT ROWID"
    )
    # Only the figures read these two; the rollups replace them and spare every write their upkeep.
    db.execute("DROP INDEX generations_presets")
    db.execute("DROP INDEX generations_render")
    watched = "day, user, model, preset, status, n, actual_micros, render_ms"
    changed = " OR ".join(f"old.{column} IS NOT new.{column}" for column in watched.split(", "))
    add, take = " ".join(_rollup_statements("new", "+")), " ".join(_rollup_statements("old", "-"))
    db.execute(
        "CREATE TRIGGER generations_rollup_insert AFTER INSERT ON generations WHEN new.status != 'reserved' "
        f"BEGIN {add} END"
    )
    db.execute(
        "CREATE TRIGGER generations_rollup_delete AFTER DELETE ON generations WHEN old.status != 'reserved' "
        f"BEGIN {take} END"
    )
    db.execute(
        f"CREATE TRIGGER generations_rollup_update AFTER UPDATE OF {watched} ON generations "
        f"WHEN {changed} BEGIN {take} {add} END"
    )
    for table, keys, counts in ROLLUPS:
        sums = ", ".join(f"SUM({value.format(r='g', micros='COALESCE(g.actual_micros, 0)')})" for _, value in counts)
        db.execute(
            f"INSERT INTO {table} ({', '.join(keys)}, {', '.join(n for n, _ in counts)}) "  # noqa: S608 (fixed names)
            f"SELECT {', '.join(keys)}, {sums} FROM generations g WHERE status != 'reserved' "
            f"GROUP BY {', '.join(keys)}"
        )
    db.execute(
        "INSERT INTO daily_render (day, model, bucket, renders, total_ms) "
        f"SELECT day, model, render_ms / {RENDER_BUCKET_MS}, COUNT(*), SUM(render_ms) FROM generations "
        f"WHERE status = 'committed' AND render_ms IS NOT NULL GROUP BY day, model, render_ms / {RENDER_BUCKET_MS}"
    )


@migration
def m011_image_lineage(db: sqlite_utils.Database) -> None:
    # An edit's image records the gallery image it started from: its children are found by this index, and
    # the Gallery filters edits from originals. Existing rows are originals (nothing was edited before).
    db.execute("ALTER TABLE images ADD COLUMN parent_key TEXT")
    db.execute("ALTER TABLE images ADD COLUMN edited INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX images_parent ON images (parent_key) WHERE parent_key IS NOT NULL")
    db.execute("CREATE INDEX images_edited ON images (edited, created_at DESC, key DESC)")
