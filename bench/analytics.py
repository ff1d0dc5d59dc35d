"""With 1,000,000 log rows (made here), the time to compute every figure the Admin page shows, on SQLite
and on PostgreSQL (Debian's, started here), beside the naive way (every row into pandas, then group) and
beside the figure before the daily rollups (the same aggregates over covering indexes of the log: 339 to
557 ms on this machine). Target: every figure within 200 ms on each database, and at least 10x faster
than the naive way."""

from __future__ import annotations

import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from _common import median_seconds, table, verdict

from imagegen import Settings
from imagegen.analytics import Analytics
from imagegen.db import Database
from imagegen.schema import open_database, rebuild_rollups
from tests.postgres import PostgresServer

ROWS = 1_000_000
DAYS = 365
MODELS = ["gpt-image-2.6-flare", "gpt-image-2.6-sunburst", "gpt-image-2", "gpt-image-1.5", "gpt-image-1-mini"]
PRESETS = ["photo", "cinematic", "product", "illustration", "watercolor", "anime", "logo", "icon"]
BEFORE_MS = 557
STATUSES = ["committed"] * 90 + ["refunded"] * 6 + ["ambiguous"] * 2 + ["expired"] * 2


def fill(db: Database, settings: Settings) -> None:
    rng = random.Random(7)
    today = datetime.now(settings.tz).date()

    def rows():
        for i in range(ROWS):
            day = today - timedelta(days=int(rng.random() ** 2 * DAYS))
            status = rng.choice(STATUSES)
            cost = rng.randint(5_000, 250_000)
            yield {
                "id": f"r{i:07d}",
                "user": f"user{rng.randint(0, 199)}",
                "day": day.isoformat(),
                "created_at": f"{day.isoformat()}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00.000+00:00",
                "preset": rng.choice(PRESETS),
                "model": rng.choice(MODELS),
                "estimated": cost,
                "actual": cost if status in ("committed", "ambiguous") else 0,
                "status": status,
                "render_ms": rng.randint(8_000, 40_000) if status == "committed" else None,
            }

    off, on = db.dialect.row_triggers_off("generations")
    with db.write() as conn:
        for statement in off:
            conn.execute(statement)
        batch = []
        for row in rows():
            batch.append(row)
            if len(batch) == 20_000:
                conn.executemany(INSERT, batch)
                batch = []
        conn.executemany(INSERT, batch)
        for statement in on:
            conn.execute(statement)
        rebuild_rollups(conn)
        conn.execute(
            'INSERT INTO user_day ("user", day, images_committed) SELECT "user", day, SUM(n) FROM generations '
            "WHERE day = :day AND status = 'committed' GROUP BY \"user\", day",
            {"day": today.isoformat()},
        )
        conn.execute(
            "INSERT INTO team_day (day, committed_micros) SELECT day, SUM(actual_micros) FROM generations "
            "WHERE day = :day GROUP BY day",
            {"day": today.isoformat()},
        )
    with db.read() as conn:
        conn.execute("ANALYZE")


INSERT = (
    'INSERT INTO generations (id, "user", day, created_at, preset, model, size, quality, n, output_format, prompt, '
    "directed_prompt, estimated_micros, actual_micros, status, expires_at, quota_images, budget_micros, render_ms) "
    "VALUES (:id, :user, :day, :created_at, :preset, :model, '1024x1024', 'medium', 1, 'png', 'a prompt', "
    "'a directed prompt', :estimated, :actual, :status, 0.0, 5, 10000000, :render_ms)"
)


def ours(analytics: Analytics) -> None:
    analytics.today()
    analytics.spend_per_day_by_model(30)
    analytics.spend_per_user(30, 10)
    analytics.quota_today()
    analytics.renders_per_preset(30)
    analytics.render_time_per_model(30)
    analytics.recent(50)


def naive(db: Database, settings: Settings) -> None:
    frame = pd.read_sql_query("SELECT * FROM generations", db.engine)
    today = datetime.now(settings.tz).date()
    since = (today - timedelta(days=29)).isoformat()
    now = frame[frame.day == today.isoformat()]
    now.groupby("status").size()
    now[now.status == "committed"].render_ms.median()
    recent = frame[frame.day >= since]
    spent = recent[recent.status.isin(["committed", "ambiguous"])]
    spent.groupby(["day", "model"]).actual_micros.sum()
    spent.groupby("user").actual_micros.sum().nlargest(10)
    now.groupby("user").n.sum()
    recent[recent.status == "committed"].groupby("preset").size()
    recent[recent.status == "committed"].groupby("model").render_ms.median()
    frame.sort_values("created_at", ascending=False).head(50)


def measure(settings: Settings) -> tuple[float, float, float]:
    """(seconds to make the rows, every figure's median time, the naive way's time)."""
    db = open_database(settings.database)
    began = time.perf_counter()
    fill(db, settings)
    filled = time.perf_counter() - began
    analytics = Analytics(db, settings)
    fast = median_seconds(lambda: ours(analytics), 5)
    slow = median_seconds(lambda: naive(db, settings), 1)
    db.close()
    return filled, fast, slow


def main() -> None:
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        figures["SQLite"] = measure(Settings(data_dir=Path(tmp)))
        server = PostgresServer(durable=True).start()
        try:
            url = server.url(server.create_database())
            figures["PostgreSQL"] = measure(Settings(data_dir=Path(tmp), database_url=url))
        finally:
            server.stop()
    rows = []
    for name, (filled, fast, slow) in figures.items():
        rows += [
            (f"{name}: making the rows (not judged)", f"{filled:7.1f} s"),
            (f"{name}: ours, daily rollups, median of 5", f"{fast * 1000:7.0f} ms   before: {BEFORE_MS} ms"),
            (f"{name}: naive, every row into pandas", f"{slow * 1000:7.0f} ms   {slow / fast:.0f}x ours"),
        ]
    table(f"Every Admin figure over {ROWS:,} log rows ({DAYS} days)", rows)
    for name, (_, fast, slow) in figures.items():
        verdict(fast < 0.2, f"{name}: {fast * 1000:.0f} ms for every figure (target < 200 ms)")
        verdict(slow / fast >= 10, f"{name}: {slow / fast:.0f}x faster than the naive way (target >= 10x)")


if __name__ == "__main__":
    main()
