"""The gallery's index with 100,000 images (1,000 of them logos and animations), on SQLite and on
PostgreSQL (Debian's, started here): the first page, a page filtered by user, the next page, a word search of
the users' prompts, a search of the whole directed prompts, a search's count, and the first page of logos
and of animations (the few among the many). Target: every figure under 50 ms on each database, and
PostgreSQL within 1.5x of SQLite (or 5 ms of it) for each."""

from __future__ import annotations

import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import median_seconds, table, verdict

from imagegen import HistoryFilter, Settings
from imagegen.db import Database
from imagegen.history import Library
from imagegen.schema import open_database
from imagegen.spool import Spool
from imagegen.storage import make_object_store
from tests.postgres import PostgresServer

IMAGES = 100_000
SUBJECTS = ["fox", "cat", "lighthouse", "teapot", "castle", "robot", "forest", "harbour", "owl", "bicycle"]
ADJECTIVES = ["red", "quiet", "neon", "tiny", "ancient", "golden", "frozen", "busy", "gentle", "stormy"]
KEYWORDS = ", golden hour, 35mm lens, shallow depth of field, photorealistic, high detail"
INSERT = (
    'INSERT INTO images (key, id, request_id, "user", created_at, model, preset, prompt, directed_prompt, '
    "thumb_key, record_key, pending, record, parent_key, edited, asset) VALUES (:key, :id, :id, :user, "
    ":created_at, 'gpt-image-2.6-flare', 'photo', :prompt, :directed, :key, :key, 0, :record, NULL, 0, :asset)"
)
#: every this-many-th image is a logo or an animation, in turn: 1,000 of 100,000
ASSET_EVERY = 100


def fill(db: Database) -> None:
    rng = random.Random(11)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(IMAGES):
        prompt = f"a {rng.choice(ADJECTIVES)} {rng.choice(SUBJECTS)} near a {rng.choice(SUBJECTS)}, take {i}"
        created = (start + timedelta(seconds=37 * i)).isoformat(timespec="milliseconds")
        key = f"imagegen/users/user{i % 40}/{i:09d}/original.png"
        record = {"key": key, "prompt": prompt, "created_at": created, "user": f"user{i % 40}"}
        rows.append(
            {
                "key": key,
                "id": f"{i:032x}",
                "user": f"user{i % 40}",
                "created_at": created,
                "prompt": prompt,
                "directed": prompt + KEYWORDS,
                "record": json.dumps(record),
                "asset": ("vector", "animation")[i // ASSET_EVERY % 2] if i % ASSET_EVERY == 0 else "picture",
            }
        )
    with db.write() as conn:
        for at in range(0, IMAGES, 10_000):
            conn.executemany(INSERT, rows[at : at + 10_000])
    with db.read() as conn:  # the steady state: PostgreSQL's autovacuum folds new entries into the word index
        conn.execute("VACUUM ANALYZE images" if db.dialect.postgres else "ANALYZE")


def figures(settings: Settings) -> dict[str, float]:
    db = open_database(settings.database)
    fill(db)
    library = Library(make_object_store(settings), db, settings.s3_prefix, Spool(settings.spool_dir))
    first = library.page()
    owls = library.page(HistoryFilter(text="owl"))
    cases = {
        "first page": lambda: library.page(),
        "next page": lambda: library.page(page_token=first.next_token),
        "one user's page": lambda: library.page(HistoryFilter(user="user7")),
        "search 'red fox'": lambda: library.page(HistoryFilter(text="red fox")),
        "search everywhere 'golden owl'": lambda: library.page(HistoryFilter(text="golden owl", everywhere=True)),
        "search a rare word '12345'": lambda: library.page(HistoryFilter(text="12345")),
        "next page of search 'owl'": lambda: library.page(HistoryFilter(text="owl"), page_token=owls.next_token),
        "count of search 'lighthouse'": lambda: library.count(HistoryFilter(text="lighthouse")),
        "first page of logos": lambda: library.page(HistoryFilter(asset="vector")),
        "first page of animations": lambda: library.page(HistoryFilter(asset="animation")),
    }
    found = {name: median_seconds(case, 7) for name, case in cases.items()}
    assert library.count(HistoryFilter(text="red fox")) > 0
    assert library.count(HistoryFilter(asset="vector")) == IMAGES // ASSET_EVERY // 2
    db.close()
    return found


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        sqlite = figures(Settings(data_dir=Path(tmp) / "sqlite"))
        server = PostgresServer(durable=True).start()
        try:
            url = server.url(server.create_database())
            postgres = figures(Settings(data_dir=Path(tmp) / "pg", database_url=url))
        finally:
            server.stop()
        took = time.perf_counter() - began
    rows = [
        (name, f"SQLite {sqlite[name] * 1000:6.1f} ms   PostgreSQL {postgres[name] * 1000:6.1f} ms") for name in sqlite
    ]
    table(f"The gallery's index with {IMAGES:,} images (medians of 7; {took:.0f} s in all)", rows)
    for name in sqlite:
        slowest = max(sqlite[name], postgres[name])
        close = postgres[name] <= max(1.5 * sqlite[name], sqlite[name] + 0.005)
        verdict(slowest < 0.05 and close, f"{name}: under 50 ms on both, PostgreSQL within 1.5x (or 5 ms) of SQLite")


if __name__ == "__main__":
    main()
