"""Quotas and the team budget as set, changed and refused (limits.py)."""

from datetime import UTC, datetime

import pytest

from imagegen import GenerationRequest, InvalidRequest, Settings, Studio
from imagegen.limits import quota_refusal


@pytest.fixture
def studio(tmp_path):
    return Studio(Settings(data_dir=tmp_path, provider="offline", offline_delay=0))


def test_a_quota_of_nothing_says_to_ask_an_admin():
    refusal = quota_refusal(0, 0, 1, datetime(2026, 12, 4, tzinfo=UTC))
    assert refusal.message == "Daily image quota reached: your quota is 0 images a day. Ask an admin to raise it."
    one = quota_refusal(0, 1, 1, datetime(2026, 12, 4, tzinfo=UTC))
    assert one.message.startswith("Daily image quota reached: all 1 of today's images are used.")


def test_a_quota_needs_a_user_named(studio):
    for nobody in ("", "   "):
        with pytest.raises(InvalidRequest, match="^Name the user whose quota to set.$"):
            studio.set_quota(nobody, 3, by="root")
    assert studio.limit_changes() == []


def test_taking_a_quota_away_records_what_it_was(studio):
    studio.set_quota("ann", 7, by="root")
    assert studio.clear_quota("ann", by="carol")
    latest = studio._engine.limits.limit_changes()[0]
    assert (latest["kind"], latest["subject"], latest["old_value"], latest["new_value"]) == ("quota", "ann", 7, None)
    assert latest["set_by"] == "carol"


def test_the_history_shows_the_latest_fifty_changes(studio):
    for images in range(52):
        studio.set_quota("ann", images, by="root")
    changes = studio._engine.limits.limit_changes()
    assert len(changes) == 50 and changes[0]["new_value"] == 51


def test_the_audit_names_whose_counters_disagree_with_the_log(studio):
    result = studio.generate(GenerationRequest("a fox"), "ann")
    day = studio._engine.ledger.generation(result.id)["day"]
    with studio._engine.db.write() as conn:
        conn.execute('UPDATE user_day SET images_committed = images_committed + 1 WHERE "user" = :u', {"u": "ann"})
        conn.execute("UPDATE team_day SET committed_micros = committed_micros + 5")
    problems = studio.check_invariants()
    assert f"ann on {day}: counters 0/2 but log 0/1 (reserved/committed images)" in problems
    assert f"team on {day}: counters 0/5 but log 0/0 (reserved/spent micro-dollars)" in problems
