"""Quotas and the team budget: what is set (with its history: who, when, before and after), what is left
today, and the refusal a request over them gets, saying what would fit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from imagegen.checks import check_user
from imagegen.db import Database, Session
from imagegen.errors import InvalidRequest, LimitReached
from imagegen.localtime import next_day_starts, reset_time, today, utc_now_iso
from imagegen.money import to_micros, to_usd, usd
from imagegen.settings import Settings

#: the largest daily quota and budget an admin may set
MAX_QUOTA_IMAGES = 100_000
MAX_BUDGET_USD = 1_000_000


@dataclass(frozen=True)
class Allowance:
    """What a user may still spend today, for the page to show before the click."""

    user: str
    day: str
    quota: int
    images_used: int
    images_in_flight: int
    budget_micros: int
    spent_micros: int
    in_flight_micros: int
    resets_at: datetime

    @property
    def images_left(self) -> int:
        return max(0, self.quota - self.images_used - self.images_in_flight)

    @property
    def budget_left_usd(self) -> float:
        return to_usd(max(0, self.budget_micros - self.spent_micros - self.in_flight_micros))

    @property
    def budget_usd(self) -> float:
        return to_usd(self.budget_micros)

    @property
    def spent_usd(self) -> float:
        return to_usd(self.spent_micros)

    @property
    def in_flight_usd(self) -> float:
        return to_usd(self.in_flight_micros)

    def refusal(self, n: int, cost_micros: int) -> LimitReached | None:
        """The limit a request of n images at this cost would hit, as the error reserve would raise;
        None if it fits. A preview for the page: only reserve decides."""
        if self.images_left < n:
            return quota_refusal(self.images_left, self.quota, n, self.resets_at)
        if to_usd(cost_micros) > self.budget_left_usd:
            return budget_refusal(self.budget_left_usd, self.budget_usd, to_usd(cost_micros), self.resets_at)
        return None


def quota_refusal(left: int, quota: int, n: int, resets_at: datetime) -> LimitReached:
    """The quota's refusal, saying what would fit."""
    reset = reset_time(resets_at)
    if quota == 0:
        message = "Daily image quota reached: your quota is 0 images a day. Ask an admin to raise it."
    elif left == 0:
        message = f"Daily image quota reached: all {quota} of today's images are used. It resets at {reset}."
    else:
        message = (
            f"Daily image quota reached: {left} of {quota} images left today and this asks for {n}. "
            f"Ask for {left} or fewer, or wait until it resets at {reset}."
        )
    return LimitReached(message, limit="quota", remaining=left, resets_at=resets_at)


def budget_refusal(left_usd: float, budget_usd: float, need_usd: float, resets_at: datetime) -> LimitReached:
    """The team budget's refusal, saying what would fit."""
    return LimitReached(
        f"Team budget reached: {usd(left_usd)} of {usd(budget_usd)} left today and this reserves up to "
        f"{usd(need_usd)}. Choose a lower quality, a smaller size or fewer images, or wait until it resets at "
        f"{reset_time(resets_at)}.",
        limit="budget",
        remaining=left_usd,
        resets_at=resets_at,
    )


class Limits:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # -- the day ---------------------------------------------------------------------------------

    def today(self, now: datetime | None = None) -> date:
        return today(self.settings.tz, now)

    def resets_at(self, day: date) -> datetime:
        return next_day_starts(day, self.settings.tz)

    # -- limits ----------------------------------------------------------------------------------

    def quota_for(self, user: str, conn: Session | None = None) -> int:
        sql = "SELECT value FROM limits WHERE kind = 'quota' AND subject = :user"
        rows = conn.execute(sql, {"user": user}).fetchall() if conn else self.db.query(sql, {"user": user})
        return int(rows[0][0]) if rows else self.settings.daily_quota

    def budget_micros(self, conn: Session | None = None) -> int:
        sql = "SELECT value FROM limits WHERE kind = 'budget' AND subject = 'team'"
        rows = conn.execute(sql).fetchall() if conn else self.db.query(sql)
        return int(rows[0][0]) if rows else to_micros(self.settings.daily_budget_usd)

    def set_quota(self, user: str, images: int, *, by: str) -> None:
        if not isinstance(user, str) or not user.strip():
            raise InvalidRequest("Name the user whose quota to set.")
        user = check_user(user)
        if type(images) is not int or not 0 <= images <= MAX_QUOTA_IMAGES:
            raise InvalidRequest(f"A daily quota is 0 to {MAX_QUOTA_IMAGES} images, not {images}.")
        self._set_limit("quota", user, images, by)

    def set_budget(self, usd: Decimal | float, *, by: str) -> None:
        amount = Decimal(str(usd))
        if not amount.is_finite() or not 0 <= amount <= MAX_BUDGET_USD:
            raise InvalidRequest(f"A daily team budget is $0 to ${MAX_BUDGET_USD:,}, not {usd}.")
        self._set_limit("budget", "team", to_micros(amount), by)

    def clear_quota(self, user: str, *, by: str) -> bool:
        """Take away a user's own quota, so the default applies again; False when there was none."""
        now = utc_now_iso()
        with self.db.write() as conn:
            old = conn.execute(
                "DELETE FROM limits WHERE kind = 'quota' AND subject = :user RETURNING value", {"user": user}
            ).fetchone()
            if old is None:
                return False
            _record_change(conn, "quota", user, old[0], None, by, now)
        return True

    def known_users(self) -> list[str]:
        """Everyone the studio has seen: accounts, users in the log, users with a quota of their own."""
        rows = self.db.query(
            'SELECT "user" FROM accounts UNION SELECT "user" FROM generations '
            "UNION SELECT subject FROM limits WHERE kind = 'quota' ORDER BY 1"
        )
        return [r[0] for r in rows]

    def _set_limit(self, kind: str, subject: str, value: int, by: str) -> None:
        now = utc_now_iso()
        with self.db.write() as conn:
            old = conn.execute(
                "SELECT value FROM limits WHERE kind = :kind AND subject = :subject" + conn.dialect.lock_row,
                {"kind": kind, "subject": subject},
            ).fetchone()
            conn.execute(
                "INSERT INTO limits (kind, subject, value, set_by, set_at) VALUES (:kind, :subject, :value, :by, :now) "
                "ON CONFLICT (kind, subject) DO UPDATE SET value = excluded.value, set_by = excluded.set_by, "
                "set_at = excluded.set_at",
                {"kind": kind, "subject": subject, "value": value, "by": by, "now": now},
            )
            _record_change(conn, kind, subject, old[0] if old else None, value, by, now)

    def quota_overrides(self) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT subject AS user, value AS quota, set_by, set_at FROM limits WHERE kind = 'quota' ORDER BY subject"
        )
        return [dict(r) for r in rows]

    def limit_changes(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT * FROM limit_changes ORDER BY id DESC LIMIT :limit", {"limit": limit})
        return [dict(r) for r in rows]

    def allowance(self, user: str, now: datetime | None = None) -> Allowance:
        day = self.today(now)
        with self.db.read() as conn:
            mine = conn.execute(
                'SELECT images_reserved, images_committed FROM user_day WHERE "user" = :user AND day = :day',
                {"user": user, "day": day.isoformat()},
            ).fetchone()
            team = conn.execute(
                "SELECT reserved_micros, committed_micros FROM team_day WHERE day = :day", {"day": day.isoformat()}
            ).fetchone()
            quota, budget = self.quota_for(user, conn), self.budget_micros(conn)
        return Allowance(
            user=user,
            day=day.isoformat(),
            quota=quota,
            images_used=mine[1] if mine else 0,
            images_in_flight=mine[0] if mine else 0,
            budget_micros=budget,
            spent_micros=team[1] if team else 0,
            in_flight_micros=team[0] if team else 0,
            resets_at=self.resets_at(day),
        )


def _record_change(conn: Session, kind: str, subject: str, old: int | None, new: int | None, by: str, at: str) -> None:
    conn.execute(
        "INSERT INTO limit_changes (kind, subject, old_value, new_value, set_by, set_at) "
        "VALUES (:kind, :subject, :old, :new, :by, :at)",
        {"kind": kind, "subject": subject, "old": old, "new": new, "by": by, "at": at},
    )
