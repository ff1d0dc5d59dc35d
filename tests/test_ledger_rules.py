"""The ledger's smaller rules, each pinned: limits' bounds, what a settlement records, allowances, medians."""

import time
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from imagegen import InvalidRequest
from imagegen.audit import check_invariants
from tests.engine_parts import open_reservations
from tests.test_ledger import make_ledger, reserve


@pytest.fixture
def ledger(db_target):
    return make_ledger(db_target, daily_quota=5, daily_budget_usd=Decimal("1"))


@pytest.mark.parametrize("images", [0, 100_000])
def test_a_quota_takes_its_bounds(ledger, images):
    ledger.limits.set_quota("ann", images, by="boss")
    assert ledger.limits.quota_for("ann") == images


@pytest.mark.parametrize("images", [-1, 100_001, "5", True, 2.0])
def test_a_quota_outside_its_bounds_or_of_another_type_is_refused(ledger, images):
    with pytest.raises(InvalidRequest, match="A daily quota is 0 to 100000 images"):
        ledger.limits.set_quota("ann", images, by="boss")
    assert ledger.limits.quota_overrides() == []


def test_a_quota_needs_a_user(ledger):
    with pytest.raises(InvalidRequest, match="Name the user"):
        ledger.limits.set_quota("  ", 3, by="boss")


@pytest.mark.parametrize("usd", [0, "1000000"])
def test_a_budget_takes_its_bounds(ledger, usd):
    ledger.limits.set_budget(Decimal(usd), by="boss")
    assert ledger.limits.budget_micros() == int(Decimal(usd) * 1_000_000)


@pytest.mark.parametrize("usd", ["-0.01", "1000000.01", "NaN", "Infinity"])
def test_a_budget_outside_its_bounds_is_refused(ledger, usd):
    with pytest.raises(InvalidRequest, match=r"A daily team budget is \$0 to \$1,000,000"):
        ledger.limits.set_budget(Decimal(usd), by="boss")


def test_each_limit_change_records_the_value_before_it(ledger):
    ledger.limits.set_quota("ann", 3, by="boss")
    ledger.limits.set_quota("ann", 7, by="chief")
    latest, first = ledger.limits.limit_changes()
    assert (first["old_value"], first["new_value"]) == (None, 3)
    assert (latest["old_value"], latest["new_value"], latest["set_by"]) == (3, 7, "chief")
    assert [o["quota"] for o in ledger.limits.quota_overrides()] == [7]


def test_a_fresh_allowance_is_whole_and_uses_the_users_own_limits(ledger):
    ledger.limits.set_quota("ann", 9, by="boss")
    ledger.limits.set_budget(Decimal("2"), by="boss")
    when = datetime(2025, 6, 1, 12, tzinfo=ZoneInfo("UTC"))
    fresh = ledger.limits.allowance("ann", now=when)
    assert (fresh.user, fresh.day, fresh.quota) == ("ann", "2025-06-01", 9)
    assert (fresh.images_used, fresh.images_in_flight, fresh.spent_micros, fresh.in_flight_micros) == (0, 0, 0, 0)
    assert fresh.budget_micros == 2_000_000 and fresh.images_left == 9
    assert ledger.limits.allowance("bob", now=when).quota == 5


def test_refusals_carry_what_is_left_and_when_it_resets(ledger):
    reserve(ledger, "r1", n=4, micros=900_000)
    allowance = ledger.limits.allowance("ann")
    quota = allowance.refusal(2, 0)
    assert quota.limit == "quota" and quota.remaining == 1 and quota.resets_at == allowance.resets_at
    budget = allowance.refusal(1, 200_000)
    assert budget.limit == "budget" and budget.remaining == pytest.approx(0.10)
    assert budget.resets_at == allowance.resets_at and "this reserves up to $0.20." in budget.message
    assert "resets at 00:00 UTC" in quota.message
    assert allowance.refusal(1, 100_000) is None


def test_a_settlement_records_its_error_and_its_timings(ledger):
    reserve(ledger, "no", micros=1000)
    reserve(ledger, "maybe", micros=1000)
    assert ledger.refund("no", error_code="content_rejected", message="refused", timings_ms={"render": 5, "total": 9})
    assert ledger.record_ambiguous("maybe", error_code="provider_timeout", message="slow", timings_ms={"total": 4})
    refunded, maybe = ledger.generation("no"), ledger.generation("maybe")
    assert (refunded["error_code"], refunded["render_ms"], refunded["total_ms"]) == ("content_rejected", 5, 9)
    assert (maybe["error_code"], maybe["total_ms"], maybe["actual_micros"]) == ("provider_timeout", 4, 1000)
    assert not ledger.refund("no", error_code="x", message="again")


def test_a_known_bill_is_charged_as_billed_but_never_above_the_reservation(ledger):
    reserve(ledger, "billed", micros=1000)
    reserve(ledger, "overbilled", micros=1000)
    ledger.record_ambiguous("billed", error_code="bad_image", message="not the image", billed_micros=600)
    ledger.record_ambiguous("overbilled", error_code="bad_image", message="not the image", billed_micros=5000)
    assert ledger.generation("billed")["actual_micros"] == 600
    assert ledger.generation("overbilled")["actual_micros"] == 1000
    assert ledger.limits.allowance("ann").spent_micros == 1600


def test_an_error_message_is_kept_to_500_characters(ledger):
    reserve(ledger, "long", micros=0)
    ledger.refund("long", error_code="x", message="y" * 600)
    assert len(ledger.generation("long")["error_message"]) == 500


def test_reservations_expire_by_the_clock_when_no_time_is_given(db_target):
    ledger = make_ledger(db_target, reservation_ttl=1)
    reserve(ledger, "old")
    assert ledger.expire_stale() == []
    time.sleep(1.1)
    assert ledger.expire_stale() == ["old"]


def test_the_eta_is_the_median_of_recent_renders_even_counts_averaged(ledger):
    for index, total in enumerate((1000, 3000)):
        reserve(ledger, f"r{index}")
        ledger.commit(f"r{index}", actual_micros=0, image_keys=["k"], timings_ms={"total": total})
    assert ledger.median_seconds("m", "") == 2.0
    reserve(ledger, "r2")
    ledger.commit("r2", actual_micros=0, image_keys=["k"], timings_ms={"total": 9000})
    assert ledger.median_seconds("m", "") == 3.0
    assert open_reservations(ledger.db) == []
    reserve(ledger, "open")
    assert [r["id"] for r in open_reservations(ledger.db)] == ["open"]


def test_breaches_are_described_with_their_figures(studio):
    from imagegen import GenerationRequest

    studio.generate(GenerationRequest("a fox"), "ann")
    with studio._engine.db.write() as conn:
        conn.execute("UPDATE user_day SET images_reserved = 2")
        conn.execute("UPDATE team_day SET reserved_micros = 3, committed_micros = 4")
        conn.execute(
            "UPDATE generations SET budget_micros = 5, estimated_micros = 1, actual_micros = 2, quota_images = 2"
        )
    problems = studio.check_invariants()
    assert any(p.endswith(": counters 2/1 but log 0/1 (reserved/committed images)") for p in problems), problems
    assert any(p.endswith(": counters 3/4 but log 0/2 (reserved/spent micro-dollars)") for p in problems), problems
    assert any("$0.000007 reserved+spent over budget $0.000005" in p for p in problems), problems
    assert any("charged $0.000002, above its reservation of $0.000001" in p for p in problems), problems
    assert any(p.startswith("ann on ") and p.endswith(": 3 images over quota 2") for p in problems), problems


def test_a_commit_records_every_token_count_and_stage_time(ledger):
    from imagegen import Usage

    reserve(ledger, "full", micros=10_000)
    timings = {"direct": 1, "reserve": 2, "render": 3, "verify": 4, "store": 5, "total": 15}
    ledger.commit("full", actual_micros=9_000, usage=Usage(11, 22, 33), timings_ms=timings, image_keys=["k"])
    row = ledger.generation("full")
    assert (row["input_text_tokens"], row["input_image_tokens"], row["output_tokens"]) == (11, 22, 33)
    assert [row[f"{stage}_ms"] for stage in ("direct", "reserve", "render", "verify", "store", "total")] == [
        1,
        2,
        3,
        4,
        5,
        15,
    ]
    assert row["error_code"] is None and row["status"] == "committed"


def test_an_image_after_a_possibly_billed_failure_replaces_the_guess_exactly(ledger):
    reserve(ledger, "late", micros=10_000)
    ledger.record_ambiguous("late", error_code="provider_timeout", message="slow", billed_micros=0)
    ledger.commit("late", actual_micros=7_000, image_keys=["k"])
    assert ledger.generation("late")["actual_micros"] == 7_000
    assert ledger.limits.allowance("ann").spent_micros == 7_000
    assert check_invariants(ledger.db) == []


def test_expired_reservations_say_why_in_their_error_code(ledger):
    reserve(ledger, "sent", micros=10_000)
    ledger.mark_sent("sent")
    reserve(ledger, "unsent", micros=10_000)
    ledger.expire_stale(now=time.time() + 10 * 86_400)
    sent, unsent = ledger.generation("sent"), ledger.generation("unsent")
    assert (sent["status"], sent["error_code"], sent["actual_micros"]) == ("ambiguous", "expired", 10_000)
    assert (unsent["status"], unsent["error_code"], unsent["actual_micros"]) == ("expired", "expired", 0)
