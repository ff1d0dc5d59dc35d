import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from imagegen import InvalidRequest, Settings
from imagegen.analytics import Analytics
from imagegen.ledger import Ledger
from imagegen.schema import open_database


@pytest.fixture
def log(tmp_path, database_url):
    settings = Settings(data_dir=tmp_path, daily_quota=10, database_url=database_url)
    db = open_database(settings.database)
    ledger = Ledger(db, settings)
    now = datetime.now(UTC)

    def add(rid, user, model, cost, *, days_ago=0, preset="photo", render_ms=1000, outcome="commit"):
        ledger.reserve(
            ledger_id=rid,
            user=user,
            n=1,
            estimated_micros=cost,
            now=now - timedelta(days=days_ago),
            details={"model": model, "preset": preset, "quality": "medium"},
        )
        if outcome == "commit":
            ledger.commit(rid, actual_micros=cost, timings_ms={"render": render_ms})
        elif outcome == "refund":
            ledger.refund(rid, error_code="rate_limited", message="429")
        elif outcome == "ambiguous":
            ledger.record_ambiguous(rid, error_code="provider_timeout", message="slow")

    add("a1", "ann", "flare", 30_000, render_ms=1000)
    add("a2", "ann", "sunburst", 60_000, render_ms=3000, preset="logo")
    add("b1", "bob", "flare", 30_000, render_ms=2000)
    add("b2", "bob", "flare", 40_000, outcome="refund")
    add("c1", "chen", "flare", 50_000, outcome="ambiguous")
    add("old", "ann", "flare", 70_000, days_ago=3)
    add("ancient", "ann", "flare", 90_000, days_ago=40)
    add("open", "bob", "sunburst", 10_000, outcome="none")
    return Analytics(db, settings), ledger


def test_today_at_a_glance(log):
    analytics, _ = log
    today = analytics.today()
    assert today.requests == 6 and today.images == 3 and today.active_users == 3
    assert today.spend_usd == pytest.approx(0.17)  # 0.03 + 0.06 + 0.03 + 0.05 possibly billed
    assert today.in_flight_usd == pytest.approx(0.01)
    assert today.failed_share == pytest.approx(2 / 6) and today.refunded_share == pytest.approx(1 / 6)
    assert today.median_render_s == pytest.approx(2.0)


def test_spend_per_day_by_model_and_per_user(log):
    analytics, _ = log
    per_day = analytics.spend_per_day_by_model(30)
    today = date.today().isoformat()
    todays = per_day[per_day.day == today].set_index("model").spend_usd.to_dict()
    assert todays == pytest.approx({"flare": 0.11, "sunburst": 0.06})
    assert len(per_day[per_day.day < today]) == 1  # the 3-day-old one; the 40-day-old one is out of range
    per_user = analytics.spend_per_user(30, 10)
    assert list(per_user.user) == ["ann", "chen", "bob"]
    assert per_user.spend_usd.tolist() == pytest.approx([0.16, 0.05, 0.03])
    assert list(analytics.spend_per_user(30, 1).user) == ["ann"]


def test_quota_use_presets_render_times_and_recent(log):
    analytics, ledger = log
    ledger.limits.set_quota("bob", 4, by="test")
    quota = analytics.quota_today().set_index("user")
    assert quota.loc["bob"].tolist() == [1, 1, 4, 2]  # committed, in flight, quota, remaining
    assert quota.loc["ann", "remaining"] == 8
    presets = analytics.renders_per_preset(30).set_index("preset").renders.to_dict()
    assert presets == {"photo": 3, "logo": 1}
    times = analytics.render_time_per_model(30).set_index("model")
    assert times.loc["flare", "renders"] == 3
    assert times.loc["flare", "median_s"] == pytest.approx(1.0)  # the mean of the bucket the middle render is in
    assert times.loc["flare", "mean_s"] == pytest.approx((1000 + 2000 + 1000) / 3 / 1000)
    recent = analytics.recent(3)
    assert len(recent) == 3 and set(recent.columns) >= {"user", "model", "status", "error_code", "cost_usd"}


def test_the_csv_export_covers_the_date_range(log):
    analytics, _ = log
    today = date.today()
    rows = list(csv.DictReader(io.StringIO(analytics.export_csv(today - timedelta(days=5), today))))
    assert {r["id"] for r in rows} == {"a1", "a2", "b1", "b2", "c1", "old", "open"}
    assert {r["status"] for r in rows} == {"committed", "refunded", "ambiguous", "reserved"}
    assert not any(name.endswith("_micros") for name in rows[0])  # money in dollars, named for its unit
    a2 = next(r for r in rows if r["id"] == "a2")
    assert (a2["estimated_usd"], a2["actual_usd"]) == ("0.060000", "0.060000")
    assert next(r for r in rows if r["id"] == "open")["actual_usd"] == ""
    with pytest.raises(InvalidRequest):
        analytics.export_csv(today, today - timedelta(days=1))
