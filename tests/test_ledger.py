import multiprocessing
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from imagegen import GenerationRequest, LedgerUnavailable, LimitReached, Settings, StorageError, Studio
from imagegen.audit import check_invariants
from imagegen.ledger import Ledger
from imagegen.schema import MIGRATIONS, migrate, open_database
from tests.engine_parts import applied_migrations

REPEATS = int(os.environ.get("IMAGEGEN_BURST_REPEATS", "20"))
#: PostgreSQL's bursts are fewer: each round is four processes of sixteen connections
PG_REPEATS = int(os.environ.get("IMAGEGEN_PG_BURST_REPEATS", "3"))
BURST_ROUNDS = [("sqlite", r) for r in range(REPEATS)] + [("postgresql", r) for r in range(PG_REPEATS)]


def make_ledger(target: str | Path, **settings) -> Ledger:
    """A ledger on a SQLite file (a path) or a PostgreSQL database (a URL)."""
    folder = target.parent if isinstance(target, Path) else Path(tempfile.gettempdir())
    return Ledger(open_database(target), Settings(data_dir=folder, **settings))


def reserve(ledger: Ledger, request_id: str, user="ann", n=1, micros=0, now=None):
    return ledger.reserve(
        ledger_id=request_id, user=user, n=n, estimated_micros=micros, details={"model": "m"}, now=now
    )


def test_migrating_a_blank_database_gives_the_exact_schema(db_target):
    db = open_database(db_target)
    assert [name for name, _ in MIGRATIONS] == migrate(db)
    assert applied_migrations(db) == {
        "m001_ledger",
        "m002_images_index",
        "m003_jobs",
        "m004_analytics_indexes",
        "m005_settlement",
        "m006_accounts",
        "m007_form_drafts",
        "m008_search_and_favourites",
        "m009_limit_removal",
        "m010_analytics_rollups",
        "m011_image_lineage",
        "m012_shared_job_queue",
        "m013_refusal",
        "m014_pending_deletes",
        "m015_estimated_charges",
        "m016_images_by_id",
        "m017_image_assets",
        "m018_team_settings",
        "m019_rewrites",
        "m020_rewrite_sources",
        "m021_boards",
        "m022_runs",
        "m023_run_batches",
        "m024_board_order",
    }
    schema = sa.inspect(db.engine)

    def columns(table: str) -> list[str]:
        return [c["name"] for c in schema.get_columns(table) if not c.get("computed")]

    assert {"parent_key", "edited"} <= set(columns("images"))
    assert {"sent_at", "request_id", "cost_estimated"} <= set(columns("generations"))
    assert "pinned_to" in columns("jobs")
    assert columns("pending_deletes") == ["key", "since"]
    assert {"request", "outcome", "result", "error"} <= set(columns("run_items"))
    assert {"batch_id", "state", "lease_owner", "lease_until"} <= set(columns("run_batches"))
    indexes = {index["name"] for index in schema.get_indexes("generations")}
    assert {"generations_spend", "generations_users"} <= indexes
    assert not {"generations_day", "generations_presets", "generations_render"} & indexes
    assert "images_by_id" in {index["name"] for index in schema.get_indexes("images")}
    assert columns("user_day") == ["user", "day", "images_reserved", "images_committed"]
    assert columns("team_day") == ["day", "reserved_micros", "committed_micros"]
    money = {c["name"]: c["type"] for c in schema.get_columns("team_day")}["committed_micros"]
    assert money.python_type is int and "BIG" in str(money).upper()  # micro-dollars outgrow 32 bits
    if db.dialect.postgres:
        times = {c["name"]: str(c["type"]) for c in schema.get_columns("jobs")}
        assert times["heartbeat_at"] == "DOUBLE PRECISION"  # a REAL would round seconds away
    else:
        assert db.query("PRAGMA journal_mode")[0][0] == "wal"
    assert migrate(db) == []  # a second run changes nothing


def test_a_statement_that_returns_no_rows_reads_as_none(db_target):
    db = open_database(db_target)
    assert db.query("UPDATE limits SET value = value WHERE 1 = 0") == []
    with db.write() as conn:
        assert conn.execute("DELETE FROM limits WHERE 1 = 0").fetchone() is None


def test_the_quota_admits_exactly_its_size_and_says_when_it_resets(db_target):
    ledger = make_ledger(db_target, daily_quota=2)
    reserve(ledger, "r1")
    reserve(ledger, "r2")
    with pytest.raises(LimitReached) as refused:
        reserve(ledger, "r3")
    assert refused.value.limit == "quota" and refused.value.remaining == 0
    assert refused.value.message == (
        "Daily image quota reached: all 2 of today's images are used. It resets at 00:00 UTC on "
        + refused.value.resets_at.strftime("%d %b")
        + "."
    )
    assert ledger.generation("r3") is None  # a refusal writes nothing


def test_the_budget_refuses_what_does_not_fit_and_names_it(db_target):
    ledger = make_ledger(db_target, daily_quota=100, daily_budget_usd=Decimal("0.10"))
    reserve(ledger, "a", micros=60_000)
    with pytest.raises(
        LimitReached,
        match=r"^Team budget reached: \$0.0400 of \$0.10 left today and this reserves up to \$0.0600\. Choose a lower quality, a smaller size or fewer images",
    ):
        reserve(ledger, "b", micros=60_000)
    reserve(ledger, "c", micros=40_000)


def test_commit_refund_and_ambiguous_move_the_counters_and_the_log_together(db_target):
    ledger = make_ledger(db_target, daily_quota=10)
    for rid in ("ok", "refund", "maybe"):
        reserve(ledger, rid, micros=50_000)
    ledger.commit("ok", actual_micros=31_930, image_keys=["k"])
    ledger.refund("refund", error_code="content_rejected", message="no")
    ledger.record_ambiguous("maybe", error_code="provider_timeout", message="slow")
    allowance = ledger.limits.allowance("ann")
    assert (allowance.images_used, allowance.images_in_flight) == (1, 0)
    assert allowance.spent_micros == 31_930 + 50_000 and allowance.in_flight_micros == 0
    assert check_invariants(ledger.db) == []
    assert not ledger.commit("ok", actual_micros=1)  # settling twice changes nothing
    assert not ledger.refund("ok", error_code="x", message="x")
    assert ledger.limits.allowance("ann").spent_micros == 81_930


def test_a_stale_reservation_expires_after_its_ttl(db_target):
    ledger = make_ledger(db_target, daily_quota=1, reservation_ttl=60)
    reserve(ledger, "crashed", micros=10)
    with pytest.raises(LimitReached):
        reserve(ledger, "next")
    assert ledger.expire_stale(now=time.time() + 30) == []
    assert ledger.expire_stale(now=time.time() + 61) == ["crashed"]
    assert ledger.generation("crashed")["status"] == "expired"
    reserve(ledger, "next")
    assert check_invariants(ledger.db) == []


def test_the_day_rolls_over_at_midnight_in_the_configured_time_zone(db_target):
    tz = ZoneInfo("America/Los_Angeles")
    ledger = make_ledger(db_target, daily_quota=1, timezone="America/Los_Angeles")
    late = datetime(2026, 11, 24, 23, 59, tzinfo=tz)  # 07:59 UTC on the 25th
    reserve(ledger, "late", now=late)
    with pytest.raises(LimitReached) as refused:
        reserve(ledger, "same-day", now=datetime(2026, 11, 24, 23, 59, 30, tzinfo=tz))
    assert refused.value.resets_at == datetime(2026, 11, 25, 0, 0, tzinfo=tz)
    reserve(ledger, "next-day", now=datetime(2026, 11, 25, 0, 0, 1, tzinfo=tz))
    assert ledger.generation("late")["day"] == "2026-11-24"
    assert ledger.generation("next-day")["day"] == "2026-11-25"


def test_a_resubmitted_request_id_is_never_charged_twice(db_settings):
    studio = Studio(db_settings)
    request = GenerationRequest("a fox", request_id="double-click-1")
    first = studio.generate(request, "ann")
    second = studio.generate(request, "ann")
    assert second.image_keys == first.image_keys
    assert studio.allowance("ann").images_used == 1
    assert len(studio.history().items) == 1


def test_a_repeated_request_id_is_found_even_once_the_limits_are_full(db_target):
    """The repeat of an admitted request is that request, not a new one the full quota or budget refuses."""
    ledger = make_ledger(db_target, daily_quota=1, daily_budget_usd=Decimal("0.05"))
    first = reserve(ledger, "only-one", micros=50_000)
    again = reserve(ledger, "only-one", micros=50_000)
    assert again.duplicate and not first.duplicate and again.ledger_id == first.ledger_id
    with pytest.raises(LimitReached):
        reserve(ledger, "a-new-one", micros=0)  # the quota is full for anything new
    ledger.limits.set_quota("ann", 5, by="boss")
    assert reserve(ledger, "only-one", micros=50_000).duplicate  # the budget is full: still the same request
    held = ledger.limits.allowance("ann")
    assert (held.images_in_flight, held.in_flight_micros) == (1, 50_000)  # charged once
    assert check_invariants(ledger.db) == []


def test_admin_overrides_take_effect_and_are_recorded(db_target):
    ledger = make_ledger(db_target, daily_quota=1)
    ledger.limits.set_quota("ann", 3, by="boss")
    ledger.limits.set_budget(Decimal("2.5"), by="boss")
    assert ledger.limits.quota_for("ann") == 3 and ledger.limits.quota_for("bob") == 1
    assert ledger.limits.budget_micros() == 2_500_000
    changes = ledger.limits.limit_changes()
    assert [(c["kind"], c["new_value"], c["set_by"]) for c in changes] == [
        ("budget", 2_500_000, "boss"),
        ("quota", 3, "boss"),
    ]
    for rid in ("1", "2", "3"):
        reserve(ledger, rid)


def test_a_read_only_database_fails_closed(tmp_path):
    """The data folder and database are read-only to the process (as root: a child that drops to nobody)."""
    folder = Path(tempfile.mkdtemp(prefix="imagegen-ro-"))
    settings = Settings(data_dir=folder / "data", provider="offline", offline_delay=0)
    migrate(Studio(settings)._engine.db)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            try:
                Studio(settings).generate(GenerationRequest("a fox"), "ann")
            except (LedgerUnavailable, StorageError) as exc:
                # either the ledger or the spool's room check refuses first: both before any spending
                code = (
                    0
                    if (
                        "read-only" in exc.message or "cannot be" in exc.message or "Nothing was charged" in exc.message
                    )
                    and not exc.charged
                    else 2
                )
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not settings.spool_dir.exists()
    assert Studio(settings)._engine.db.query("SELECT COUNT(*) FROM generations")[0][0] == 0
    shutil.rmtree(folder)


def test_a_database_locked_past_the_timeout_fails_closed_and_generates_nothing(offline_settings):
    studio = Studio(offline_settings)
    studio._engine.db.busy_timeout_ms = 200
    migrate(studio._engine.db)
    blocker = sqlite3.connect(offline_settings.db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        fresh = Studio(offline_settings)
        fresh._engine.db.busy_timeout_ms = 200
        with pytest.raises(LedgerUnavailable, match="busy"):
            fresh.generate(GenerationRequest("a fox"), "ann")
    finally:
        blocker.execute("ROLLBACK")
    assert studio.history().items == []
    assert not offline_settings.spool_dir.exists() or not any(offline_settings.spool_dir.iterdir())


# -- bursts: many processes and threads at once on one file -----------------------------------------


def _burst_worker(path, settings_kw, user_of, micros, start, results, worker):
    ledger = make_ledger(path, **settings_kw)
    outcomes = []

    def one(i):
        start.wait()
        try:
            reserve(ledger, f"w{worker}-t{i}", user=user_of(worker, i), micros=micros)
            outcomes.append("admitted")
        except LimitReached:
            outcomes.append("refused")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(outcomes)


def same_user(worker, i):
    return "ann"


def many_users(worker, i):
    return f"user{worker}-{i}"


def burst(path, settings_kw, user_of, micros):
    ctx = multiprocessing.get_context("fork")
    before = make_ledger(path, **settings_kw)
    migrate(before.db)  # once, before the burst
    before.db.close()  # no connection may cross the fork
    start, results = ctx.Barrier(64), ctx.Queue()
    procs = [
        ctx.Process(target=_burst_worker, args=(path, settings_kw, user_of, micros, start, results, w))
        for w in range(4)
    ]
    for p in procs:
        p.start()
    outcomes = [o for _ in procs for o in results.get(timeout=60)]
    for p in procs:
        p.join(timeout=60)
    return outcomes.count("admitted"), outcomes.count("refused")


def burst_target(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> str | Path:
    return tmp_path / "burst.db" if kind == "sqlite" else request.getfixturevalue("postgres_url")


@pytest.mark.parametrize(("kind", "round_"), BURST_ROUNDS)
def test_a_64_way_burst_for_one_user_admits_exactly_the_quota(request, tmp_path, kind, round_):
    path = burst_target(request, tmp_path, kind)
    assert burst(path, {"daily_quota": 5}, same_user, 0) == (5, 59)
    assert check_invariants(make_ledger(path).db) == []


@pytest.mark.parametrize(("kind", "round_"), BURST_ROUNDS)
def test_a_64_way_burst_against_the_team_budget_admits_exactly_what_fits(request, tmp_path, kind, round_):
    path = burst_target(request, tmp_path, kind)
    settings_kw = {"daily_quota": 100, "daily_budget_usd": Decimal("0.50")}
    assert burst(path, settings_kw, many_users, 100_000) == (5, 59)
    ledger = make_ledger(path, **settings_kw)
    assert check_invariants(ledger.db) == []
    assert ledger.limits.allowance("x").in_flight_micros == 500_000


def test_one_request_id_reserved_at_once_from_many_places_is_charged_once(db_target):
    ledger = make_ledger(db_target, daily_quota=100)
    migrate(ledger.db)
    start, outcomes = threading.Barrier(16), []

    def one() -> None:
        mine = make_ledger(db_target, daily_quota=100)
        start.wait()
        outcomes.append(reserve(mine, "double-click", micros=1_000).duplicate)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [False] + [True] * 15
    allowance = ledger.limits.allowance("ann")
    assert (allowance.images_in_flight, allowance.in_flight_micros) == (1, 1_000)
    assert check_invariants(ledger.db) == []


def test_the_allowance_previews_which_limit_a_request_would_hit(db_target):
    ledger = make_ledger(db_target, daily_quota=2, daily_budget_usd=Decimal("0.10"))
    reserve(ledger, "one", micros=50_000)
    allowance = ledger.limits.allowance("ann")
    assert allowance.images_left == 1 and allowance.budget_left_usd == pytest.approx(0.05)
    assert allowance.refusal(1, 50_000) is None
    over_quota = allowance.refusal(2, 0)
    assert over_quota.limit == "quota"
    assert over_quota.message.startswith(
        "Daily image quota reached: 1 of 2 images left today and this asks for 2. Ask for 1 or fewer"
    )
    over_budget = allowance.refusal(1, 60_000)
    assert (
        over_budget.limit == "budget"
        and "$0.0500 of $0.10 left today and this reserves up to $0.0600." in over_budget.message
    )


def test_the_eta_is_the_median_duration_of_recent_generations_of_that_model_and_quality(db_target):
    ledger = make_ledger(db_target, daily_quota=100)
    assert ledger.median_seconds("flare", "medium") is None
    for index, total in enumerate((9000, 11000, 30000, 10000)):
        ledger.reserve(
            ledger_id=f"r{index}", user="ann", n=1, estimated_micros=0, details={"model": "flare", "quality": "medium"}
        )
        ledger.commit(f"r{index}", actual_micros=0, timings_ms={"render": total - 500, "total": total})
    ledger.reserve(
        ledger_id="other", user="ann", n=1, estimated_micros=0, details={"model": "flare", "quality": "high"}
    )
    ledger.commit("other", actual_micros=0, timings_ms={"total": 60000})
    assert ledger.median_seconds("flare", "medium") == pytest.approx(10.5)
    assert ledger.median_seconds("flare", "high") == pytest.approx(60.0)
