"""Moving a deployment's data to another database (SQLite to PostgreSQL, or back) without losing a row.

The target is migrated, must be empty, and is filled in one transaction: either every row arrives or
none. The daily rollups are not copied: they are computed afresh from the copied log. Afterwards every table's count and every counter's sum are compared on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from imagegen.db import Database, Session
from imagegen.errors import InvalidRequest
from imagegen.schema import migrate, open_database, rebuild_rollups

#: the tables that hold the deployment's data, in an order that satisfies every reference between them
TABLES = (
    "accounts",
    "limits",
    "limit_changes",
    "user_day",
    "team_day",
    "generations",
    "images",
    "favourites",
    "jobs",
    "form_drafts",
    "pending_deletes",
    "team_settings",
    "team_setting_changes",
    "rewrites",
)
#: what must agree on both sides once the copy is done: (table, the sums compared)
CHECKED_SUMS = {
    "generations": ("n", "estimated_micros", "actual_micros"),
    "user_day": ("images_reserved", "images_committed"),
    "team_day": ("reserved_micros", "committed_micros"),
    "daily_model": ("requests", "images", "micros"),
    "daily_user": ("requests", "images", "micros"),
    "daily_render": ("renders", "total_ms"),
    "daily_preset": ("requests",),
    "limits": ("value",),
}
BATCH = 2000


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    #: where the rows came from and went, as an admin reads it
    source: str = ""
    target: str = ""

    @property
    def ok(self) -> bool:
        return not self.mismatches


def copy_studio_database(source: str | Path, target: str | Path) -> CopyReport:
    """Copy the studio's database at `source` into the new, empty one at `target` (see copy_database)."""
    reading, writing = open_database(source), open_database(target)
    try:
        return copy_database(reading, writing)
    finally:
        reading.close()
        writing.close()


def copy_database(source: Database, target: Database) -> CopyReport:
    """Copy every row of `source` into the empty database `target`, then check both agree."""
    if source.describe() == target.describe():
        raise InvalidRequest("The database to copy to is the one being copied from.")
    migrate(source)
    migrate(target)
    report = CopyReport(source=source.describe(), target=target.describe())
    with source.snapshot() as reading, target.write() as writing:
        _refuse_if_not_empty(writing)
        triggers_off, triggers_on = target.dialect.row_triggers_off("generations")
        for statement in triggers_off:
            writing.execute(statement)
        for table in TABLES:
            report.rows[table] = _copy_table(reading, writing, table, _columns(source, target, table))
        for statement in [*triggers_on, *target.dialect.after_copy()]:
            writing.execute(statement)
        rebuild_rollups(writing)
    report.mismatches = _compare(source, target)
    return report


def _refuse_if_not_empty(target: Session) -> None:
    for table in TABLES:
        if target.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:  # noqa: S608 (fixed names)
            raise InvalidRequest(
                f"The database to copy to already holds data ({table} is not empty). Copy into a new, empty one."
            )


def _columns(source: Database, target: Database, table: str) -> list[str]:
    """The columns both sides store (a generated column, such as PostgreSQL's search words, is rebuilt)."""

    def stored(db: Database) -> list[str]:
        return [c["name"] for c in sa.inspect(db.engine).get_columns(table) if not c.get("computed")]

    wanted = set(stored(target))
    return [column for column in stored(source) if column in wanted]


def _copy_table(source: Session, target: Session, table: str, columns: list[str]) -> int:
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join(f":c{i}" for i in range(len(columns)))
    insert = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 (fixed names)
    result = source.connection.execution_options(yield_per=BATCH).execute(sa.text(f"SELECT {names} FROM {table}"))  # noqa: S608
    copied = 0
    for rows in result.partitions(BATCH):
        target.executemany(insert, [{f"c{i}": value for i, value in enumerate(row)} for row in rows])
        copied += len(rows)
    return copied


def _compare(source: Database, target: Database) -> list[str]:
    problems = []
    for table in (*TABLES, *CHECKED_SUMS):
        sums = CHECKED_SUMS.get(table, ())
        figures = ", ".join(["COUNT(*)", *(f"CAST(COALESCE(SUM({c}), 0) AS BIGINT)" for c in sums)])
        sql = f"SELECT {figures} FROM {table}"  # noqa: S608 (fixed names)
        before, after = tuple(source.query(sql)[0]), tuple(target.query(sql)[0])
        if before != after:
            labels = ["rows", *(f"sum of {c}" for c in sums)]
            problems += [
                f"{table}: {label} {a} here but {b} there"
                for label, a, b in zip(labels, before, after, strict=True)
                if a != b
            ]
    return problems
