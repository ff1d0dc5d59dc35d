"""The team's day and the one way a time is written for people (localtime.py)."""

import time
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from imagegen.localtime import for_people, next_day_starts, reset_time, today

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def server_in_tokyo(monkeypatch):
    """The server's own zone far from the team's and from UTC: nothing may read it."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_stored_time_without_a_zone_is_utc_and_is_written_in_the_teams_zone(server_in_tokyo):
    assert for_people("2026-12-03T07:02:11.123", PARIS) == "03 Dec 2026 08:02 CET"
    assert for_people("2026-12-03T07:02:11.123+00:00", PARIS) == "03 Dec 2026 08:02 CET"
    assert for_people(datetime(2026, 12, 3, 7, 2), PARIS) == "03 Dec 2026 08:02 CET"
    assert for_people("2026-07-03T07:02:00+00:00", PARIS) == "03 Jul 2026 09:02 CEST"
    assert for_people("", PARIS) == "" and for_people(None, PARIS) == ""


def test_a_moment_with_its_own_zone_keeps_the_instant_it_names():
    tokyo = datetime(2026, 12, 3, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    assert for_people(tokyo, PARIS) == "03 Dec 2026 01:00 CET"
    assert for_people(tokyo, UTC) == "03 Dec 2026 00:00 UTC"


def test_the_teams_day_turns_at_its_own_midnight():
    late = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)
    assert today(PARIS, late) == date(2026, 12, 4) and today(UTC, late) == date(2026, 12, 3)
    resets = next_day_starts(date(2026, 12, 3), PARIS)
    assert resets == datetime(2026, 12, 4, tzinfo=PARIS) and reset_time(resets) == "00:00 CET on 04 Dec"
