"""The studio's one notion of time for people: "today" is a day in the team's time zone
(IMAGEGEN_TIMEZONE), and a moment is written one way everywhere a person reads it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

#: how a moment is written for people, on every page and in every message
PEOPLE_FORMAT = "%d %b %Y %H:%M %Z"


def today(tz: tzinfo, now: datetime | None = None) -> date:
    """The team's day at `now` (the present by default): the day quotas, budgets and lifecycles count in."""
    return (now or datetime.now(tz)).astimezone(tz).date()


def day_starts(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=tz)


def next_day_starts(day: date, tz: tzinfo) -> datetime:
    """When the team's `day` ends: when daily limits reset."""
    return day_starts(day + timedelta(days=1), tz)


def utc_now_iso() -> str:
    """The present as the studio stores it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def as_moment(stored: str | datetime) -> datetime:
    """A stored time (ISO text or a datetime); one without a zone is UTC, as every stored time is."""
    moment = stored if isinstance(stored, datetime) else datetime.fromisoformat(stored)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def for_people(stored: str | datetime | None, tz: tzinfo) -> str:
    """A stored time as people read it, in the team's zone; empty for none."""
    if not stored:
        return ""
    return as_moment(stored).astimezone(tz).strftime(PEOPLE_FORMAT)


def reset_time(moment: datetime) -> str:
    """When a limit resets, in a sentence: "00:00 CET on 04 Dec"."""
    return moment.strftime("%H:%M %Z on %d %b")
