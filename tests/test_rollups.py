"""The daily totals the Admin figures read are kept by triggers: whatever happens to the log (reservations,
commits, refunds, possibly billed failures, expiry, a later settlement, a deleted or corrected row), they
equal the totals of its settled rows computed from the log itself (open reservations are read from the log)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from imagegen import ImagegenError, Settings
from imagegen.db import Database
from imagegen.ledger import Ledger
from imagegen.schema import migrate, open_database

FROM_LOG = {
    "daily_model": "SELECT day, model, status, COUNT(*), SUM(n), SUM(COALESCE(actual_micros, 0)) FROM generations "
    "WHERE status != 'reserved' GROUP BY day, model, status",
    "daily_user": 'SELECT day, "user", status, COUNT(*), SUM(n), SUM(COALESCE(actual_micros, 0)) FROM generations '
    "WHERE status != 'reserved' GROUP BY day, \"user\", status",
    "daily_preset": "SELECT day, preset, status, COUNT(*) FROM generations WHERE status != 'reserved' "
    "GROUP BY day, preset, status",
    "daily_render": "SELECT day, model, render_ms / 100, COUNT(*), SUM(render_ms) FROM generations "
    "WHERE status = 'committed' AND render_ms IS NOT NULL GROUP BY day, model, render_ms / 100",
}
COUNTED = {
    "daily_model": ("requests", "images", "micros"),
    "daily_user": ("requests", "images", "micros"),
    "daily_preset": ("requests",),
    "daily_render": ("renders", "total_ms"),
}
#: a correction by hand to one column of the log: (column, the value it is set to, from the step's figure)
EDITS = (
    ("model", lambda figure: f"model{figure % 3}"),
    ("status", lambda figure: ("committed", "refunded", "ambiguous")[figure % 3]),
    ("render_ms", lambda figure: figure),
    ("actual_micros", lambda figure: figure),
    ("n", lambda figure: 1 + figure % 4),
    ("day", lambda figure: f"2026-01-0{1 + figure % 3}"),
    ("user", lambda figure: f"user{figure % 3}"),
    ("preset", lambda figure: f"preset{figure % 3}"),
)


def drift(db: Database) -> dict[str, set]:
    """Rows on which a rollup and the log disagree (rollup rows whose counts all fell to zero are absent)."""
    found = {}
    for table, sql in FROM_LOG.items():
        nonzero = " OR ".join(f"{column} != 0" for column in COUNTED[table])
        kept = {tuple(r) for r in db.query(f"SELECT * FROM {table} WHERE {nonzero}")}  # noqa: S608
        expected = {tuple(r) for r in db.query(sql)}
        if kept != expected:
            found[table] = kept ^ expected
    return found


new_request = st.tuples(
    st.just("reserve"),
    st.sampled_from(["ann", "bob"]),
    st.sampled_from(["flare", "sunburst"]),
    st.sampled_from(["photo", "logo"]),
    st.integers(1, 3),  # n
    st.integers(0, 2),  # days ago
    st.integers(1, 120_000),  # estimated cost in micros
)
settlement = st.tuples(
    st.sampled_from(["commit", "refund", "ambiguous", "sent", "expire", "delete", "edit"]),
    st.integers(0, 3),  # which request, counted from the oldest
    st.integers(0, 4000),  # render ms, or a new cost
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(new_request, settlement), min_size=1, max_size=24))
@example([("reserve", "ann", "flare", "photo", 2, 0, 900), ("commit", 0, 1500), ("delete", 0, 0)])
@example([("reserve", "ann", "flare", "photo", 1, 1, 900), ("commit", 0, 1500), ("edit", 0, 0)])
def test_the_rollups_equal_the_log_after_any_history(tmp_path_factory, database_url, steps):
    folder = tmp_path_factory.mktemp("rollups")
    config = Settings(data_dir=folder, daily_quota=1000, daily_budget_usd=1000, database_url=database_url)
    db = open_database(config.database)
    if database_url:  # one PostgreSQL database serves every example: each starts from an empty log
        with db.write() as conn:
            for table in ("generations", "user_day", "team_day", *FROM_LOG):
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
    ledger = Ledger(db, config)
    now = datetime.now(UTC)
    made: list[str] = []
    for action, *args in steps:
        if action == "reserve":
            user, model, preset, n, days_ago, cost = args
            made.append(f"r{len(made)}")
            ledger.reserve(
                ledger_id=made[-1],
                user=user,
                n=n,
                estimated_micros=cost,
                now=now - timedelta(days=days_ago),
                details={"model": model, "preset": preset, "quality": "medium"},
            )
        elif made:
            with contextlib.suppress(ImagegenError):  # what the ledger refuses (a deleted row) changes nothing
                settle(db, ledger, config, action, made[args[0] % len(made)], args[1])
        assert drift(db) == {}, f"after {action} {args}"
    db.close()


def settle(db: Database, ledger: Ledger, config: Settings, action: str, rid: str, figure: int) -> None:
    """One thing that happens to a logged request, whatever state it is in (the ledger refuses what it must)."""
    if action == "commit":  # also a late delivery after a possibly billed failure
        ledger.commit(rid, actual_micros=figure, timings_ms={"render": figure})
    elif action == "refund":
        ledger.refund(rid, error_code="rate_limited", message="429")
    elif action == "ambiguous":
        ledger.record_ambiguous(rid, error_code="provider_timeout", message="slow")
    elif action == "sent":
        ledger.mark_sent(rid)
    elif action == "expire":
        ledger.expire_stale(now=datetime.now(UTC).timestamp() + 10 * config.reservation_ttl)
    else:
        with db.write() as conn:
            if action == "delete":
                conn.execute("DELETE FROM generations WHERE id = :id", {"id": rid})
            else:
                column, value = EDITS[figure % len(EDITS)]
                conn.execute(
                    f'UPDATE generations SET "{column}" = :value WHERE id = :id',
                    {"value": value(figure // 8), "id": rid},
                )  # noqa: S608


def test_a_log_written_before_the_rollups_is_counted_when_they_are_made(tmp_path):
    config = Settings(data_dir=tmp_path)
    db = open_database(config.db_path)
    ledger = Ledger(db, config)
    ledger.reserve(ledger_id="a", user="ann", n=2, estimated_micros=9, details={"model": "flare"})
    ledger.commit("a", actual_micros=7, timings_ms={"render": 1234})
    ledger.reserve(ledger_id="b", user="bob", n=1, estimated_micros=5, details={"model": "flare"})
    with db.write() as conn:  # as a database made before the rollups were: no triggers, no totals
        for trigger in ("insert", "update", "delete"):
            conn.execute(f"DROP TRIGGER generations_rollup_{trigger}")
        for table in FROM_LOG:
            conn.execute(f"DROP TABLE {table}")  # noqa: S608
        conn.execute("CREATE INDEX generations_presets ON generations (day, status, preset)")
        conn.execute("CREATE INDEX generations_render ON generations (day, status, model, render_ms)")
        conn.execute("DELETE FROM _migrations WHERE name = 'm010_analytics_rollups'")
    assert migrate(db) == ["m010_analytics_rollups"]
    assert drift(db) == {}
    assert tuple(db.query("SELECT SUM(renders), SUM(total_ms) FROM daily_render")[0]) == (1, 1234)
