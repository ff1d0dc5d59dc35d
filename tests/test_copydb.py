"""`copy-db`: a deployment moves from SQLite to PostgreSQL (and back) without losing a row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from imagegen import HistoryFilter, Settings, Studio
from imagegen.audit import check_invariants
from imagegen.copydb import TABLES
from imagegen.db import Database
from imagegen.ledger import Ledger
from imagegen.schema import open_database
from imagegen.team import TeamSettings
from tests.conftest import ROOT

GENERATIONS = 10_000
STATUSES = ("committed", "committed", "committed", "refunded", "ambiguous", "expired", "reserved")


def seed(db: Database) -> None:
    """A busy deployment's log: 10,000 generations over 20 days and 25 users, with their images, jobs,
    accounts, limits, favourites and drafts, the counters agreeing with the log."""
    generations, user_day, team_day = [], {}, {}
    for i in range(GENERATIONS):
        user, day, status, n = f"user{i % 25}", f"2026-10-{1 + i % 20:02d}", STATUSES[i % len(STATUSES)], 1 + i % 3
        estimated = 10_000 + i
        actual = {"committed": estimated - 7, "ambiguous": estimated, "reserved": None}.get(status, 0)
        generations.append(
            {
                "id": f"g{i:05d}",
                "user": user,
                "day": day,
                "created_at": f"{day}T{i % 24:02d}:00:{i % 60:02d}.000+00:00",
                "n": n,
                "prompt": f"a red fox number {i}",
                "directed": f"a red fox number {i}, golden hour, 35mm",
                "estimated": estimated,
                "actual": actual,
                "status": status,
                "render_ms": 900 + i % 4000 if status == "committed" else None,
                "keys": json.dumps([f"imagegen/users/{user}/{day}/g{i:05d}-0.png"]) if status == "committed" else None,
            }
        )
        counts = user_day.setdefault((user, day), [0, 0])
        spend = team_day.setdefault(day, [0, 0])
        if status == "reserved":
            counts[0] += n
            spend[0] += estimated
        elif status == "committed":
            counts[1] += n
        if status in ("committed", "ambiguous"):
            spend[1] += actual
    with db.write() as conn:
        conn.executemany(
            'INSERT INTO generations (id, "user", day, created_at, preset, model, size, quality, n, output_format, '
            "prompt, directed_prompt, estimated_micros, actual_micros, status, expires_at, quota_images, "
            "budget_micros, render_ms, image_keys) VALUES (:id, :user, :day, :created_at, 'photo', 'flare', "
            "'1024x1024', 'medium', :n, 'png', :prompt, :directed, :estimated, :actual, :status, 4102444800.5, "
            "100000, 1000000000000, :render_ms, :keys)",
            generations,
        )
        conn.executemany(
            'INSERT INTO user_day ("user", day, images_reserved, images_committed) VALUES (:u, :d, :r, :c)',
            [{"u": u, "d": d, "r": r, "c": c} for (u, d), (r, c) in user_day.items()],
        )
        conn.executemany(
            "INSERT INTO team_day (day, reserved_micros, committed_micros) VALUES (:d, :r, :c)",
            [{"d": d, "r": r, "c": c} for d, (r, c) in team_day.items()],
        )
        committed = [g for g in generations if g["status"] == "committed"][:500]
        conn.executemany(
            'INSERT INTO images (key, id, request_id, "user", created_at, model, preset, prompt, directed_prompt, '
            "thumb_key, record_key, pending, record, parent_key, edited) VALUES (:key, :id, :id, :user, :created_at, "
            "'flare', 'photo', :prompt, :directed, :key || '.webp', :key || '.json', 0, :record, NULL, 0)",
            [{**g, "key": json.loads(g["keys"])[0], "record": json.dumps({"prompt": g["prompt"]})} for g in committed],
        )
        conn.executemany(
            'INSERT INTO favourites ("user", key, created_at) VALUES (:user, :key, 1.5)',
            [{"user": "user0", "key": json.loads(g["keys"])[0]} for g in committed[:40]],
        )
        conn.executemany(
            'INSERT INTO jobs (id, "user", status, stage, request, created_at, charged, heartbeat_at) '
            "VALUES (:id, :user, 'succeeded', 'done', '{}', 1.25, 1, 2.75)",
            [{"id": g["id"], "user": g["user"]} for g in generations[:300]],
        )
        conn.executemany(
            'INSERT INTO accounts (account, "user", display, email, is_admin, seen_at) '
            "VALUES (:a, :u, :u, :u || '@example.com', :admin, 3.5)",
            [{"a": f"https://idp#{i}", "u": f"user{i}", "admin": int(i == 0)} for i in range(25)],
        )
        conn.execute("INSERT INTO form_drafts (\"user\", form, saved_at) VALUES ('user3', '{\"n\": 2}', 4.5)")
    ledger = Ledger(db, Settings(daily_quota=100))
    for i in range(5):
        ledger.limits.set_quota(f"user{i}", 10 + i, by="boss")
    ledger.limits.set_budget(Decimal("250"), by="boss")
    ledger.limits.clear_quota("user4", by="boss")
    team = TeamSettings(db)
    team.set_palette("#112233 #445566", by="boss")
    team.set_palette("#112233", by="boss")


def everything(db: Database) -> dict[str, list[tuple]]:
    """Every row of every copied table, in key order, as plain values."""
    found = {}
    for table in TABLES:
        columns = [c["name"] for c in sa.inspect(db.engine).get_columns(table) if not c.get("computed")]
        names = ", ".join(f'"{c}"' for c in columns)
        found[table] = [tuple(r) for r in db.query(f"SELECT {names} FROM {table} ORDER BY {names}")]  # noqa: S608
    return found


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "imagegen", *args], env=env, capture_output=True, text=True, cwd=ROOT, timeout=300
    )


@pytest.fixture
def deployment(tmp_path: Path) -> tuple[dict[str, str], Database]:
    data = tmp_path / "data"
    db = open_database(Settings(data_dir=data).db_path)
    seed(db)
    env = {**os.environ, "IMAGEGEN_DATA_DIR": str(data), "IMAGEGEN_PROVIDER": "offline"}
    env.pop("IMAGEGEN_DATABASE_URL", None)
    return env, db


def test_a_deployment_moves_to_postgresql_and_back_without_losing_a_row(deployment, postgres_url, tmp_path):
    env, original = deployment
    moved = cli(env, "copy-db", "--to", postgres_url)
    assert moved.returncode == 0, moved.stderr
    assert f"copied {GENERATIONS} rows of generations" in moved.stdout
    assert "every count and sum agrees" in moved.stdout
    back_file = tmp_path / "back" / "imagegen.db"
    back = cli({**env, "IMAGEGEN_DATABASE_URL": postgres_url}, "copy-db", "--to", f"sqlite:///{back_file}")
    assert back.returncode == 0, back.stderr
    before, after = everything(original), everything(open_database(back_file))
    for table in TABLES:
        assert after[table] == before[table], table
    assert sum(len(rows) for rows in before.values()) > GENERATIONS


def test_the_copy_works_on_postgresql_as_it_did_before(deployment, postgres_url, tmp_path):
    env, original = deployment
    assert cli(env, "copy-db", "--to", postgres_url).returncode == 0
    settings = Settings(data_dir=tmp_path / "pg-data", database_url=postgres_url, provider="offline", daily_quota=100)
    studio = Studio(settings)
    assert check_invariants(Ledger(original, settings).db) == [] == studio.check_invariants()
    assert studio._engine.library.count(HistoryFilter(text="fox 12")) == len(
        [r for r in original.query("SELECT prompt FROM images") if " 12" in r[0]]
    )
    assert studio._engine.library.count(HistoryFilter(favourites_of="user0")) == 40
    assert studio._engine.limits.quota_for("user2") == 12 and studio._engine.limits.budget_micros() == 250_000_000
    studio.set_quota("user9", 3, by="boss")  # a new change after the copied ones gets its own id
    ids = [c["id"] for c in studio._engine.limits.limit_changes()]
    assert len(ids) == len(set(ids)) == 8 and max(ids) == ids[0]


def test_copying_into_a_database_that_holds_data_is_refused_and_changes_nothing(deployment, postgres_url):
    env, _ = deployment
    assert cli(env, "copy-db", "--to", postgres_url).returncode == 0
    target = open_database(postgres_url)
    before = everything(target)
    again = cli(env, "copy-db", "--to", postgres_url)
    assert again.returncode != 0
    assert "already holds data" in again.stderr and "Copy into a new, empty one" in again.stderr
    assert everything(target) == before
    target.close()


def test_the_database_url_never_shows_its_password(deployment):
    env, _ = deployment
    failed = cli(env, "copy-db", "--to", "postgresql://ann:s3cret-pw@127.0.0.1:1/nowhere")
    assert failed.returncode != 0
    assert "s3cret-pw" not in failed.stdout + failed.stderr
    assert "cannot be used" in failed.stderr


def test_migrate_and_doctor_name_the_database_without_its_password(deployment, postgres_url):
    env, _ = deployment
    url = postgres_url.replace("imagegen@", "imagegen:hunter2-secret@")  # the test server trusts any password
    for command in ("migrate", "doctor"):
        done = cli({**env, "IMAGEGEN_DATABASE_URL": url}, command)
        assert done.returncode == 0, done.stderr
        assert "hunter2" not in done.stdout + done.stderr
        assert "postgresql://imagegen:***@127.0.0.1:" in done.stdout
