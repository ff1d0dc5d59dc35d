"""Reservations and the generation log, enforced atomically in the database.

Every generation goes reserve -> commit | refund | ambiguous | expire. A reservation is admitted by
conditional upserts that charge the user's image count and the team's spend only when both stay within
their limits (limits.py), with its log row, all or nothing: one write transaction on SQLite (BEGIN
IMMEDIATE), one statement on PostgreSQL. The counters and the log cannot disagree, and no burst can
overshoot; audit.py checks that they never do.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NoReturn

from imagegen.db import Database, KeyTaken, Refused, Row, Session
from imagegen.dialects import REFUSE
from imagegen.errors import InvalidRequest, LedgerUnavailable
from imagegen.limits import Limits, budget_refusal, quota_refusal
from imagegen.localtime import utc_now_iso
from imagegen.money import to_micros, to_usd
from imagegen.request import Usage
from imagegen.settings import Settings

OPEN, COMMITTED, REFUNDED, AMBIGUOUS, EXPIRED = "reserved", "committed", "refunded", "ambiguous", "expired"
EXPIRED_AFTER_SENDING = (
    "No worker settled this request in time after the provider was called: it may have been billed, so its "
    "reserved cost is kept."
)
EXPIRED_UNSENT = "No worker settled this request in time; it never reached the provider, so nothing was charged."
log = logging.getLogger("imagegen.ledger")


@dataclass(frozen=True)
class Reservation:
    ledger_id: str
    user: str
    day: str
    n: int
    estimated_micros: int
    status: str
    #: True when this request id had been seen before: nothing new was charged
    duplicate: bool = False


class Ledger:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        #: the quotas and the budget a reservation is admitted under
        self.limits = Limits(db, settings)

    # -- reserve -> commit | refund | ambiguous | expire ------------------------------------------

    def reserve(
        self,
        *,
        ledger_id: str,
        user: str,
        n: int,
        estimated_micros: int,
        details: dict[str, Any],
        now: datetime | None = None,
    ) -> Reservation:
        """Admit the request only if the user's quota and the team's budget both have room; atomically."""
        day = self.limits.today(now)
        row = self._row(ledger_id, user, n, estimated_micros, details, day)
        if self.db.dialect.writes_in_with:
            return self._reserve_at_once(row, day)
        with self.db.write() as conn:
            if not self._admitted(conn, row, day):
                return self._repeated(conn, ledger_id)
        return Reservation(ledger_id, user, row["day"], n, estimated_micros, OPEN)

    def reserve_all(self, items: list[tuple[str, int, int, dict[str, Any]]], *, user: str, held_for: str,
                    hold_seconds: float) -> list[Reservation]:  # fmt: skip
        """A run's reservations, each (ledger id, images, most it can cost, details), in one transaction: every
        one admitted within the quota and the budget, or none (the refusal of the first that does not fit).
        Each is held for the run (`held_for`) until its job takes it, for up to `hold_seconds`."""
        day = self.limits.today()
        kept: list[Reservation] = []
        with self.db.write() as conn:
            for ledger_id, n, micros, details in items:
                row = self._row(ledger_id, user, n, micros, details, day)
                row["expires_at"] = time.time() + hold_seconds
                if not self._admitted(conn, row, day):
                    raise InvalidRequest("This run was started already.")
                conn.execute(
                    "UPDATE generations SET held_for = :run WHERE id = :id", {"run": held_for, "id": ledger_id}
                )
                kept.append(Reservation(ledger_id, user, row["day"], n, micros, OPEN))
        return kept

    def take_held(self, ledger_id: str) -> bool:
        """Make a run's held reservation the running request's (its TTL starts now); False when there is none
        (not held, or released since: the run was cancelled or its hold expired)."""
        with self.db.write() as conn:
            taken = conn.execute(
                "UPDATE generations SET held_for = NULL, expires_at = :expires WHERE id = :id AND status = :open "
                "AND held_for IS NOT NULL RETURNING id",
                {"expires": time.time() + self.settings.reservation_ttl, "id": ledger_id, "open": OPEN},
            ).fetchone()
        return taken is not None

    def release_held(self, held_for: str, ledger_ids: list[str]) -> list[str]:
        """Release at $0 those of `ledger_ids` still held for a run: their jobs were cancelled before any
        worker took them, so none reached the provider. (A job already taken keeps its hold and runs.)"""
        with self.db.write() as conn:
            rows = [
                row
                for ledger_id in sorted(ledger_ids)
                for row in conn.execute(
                    'SELECT id, "user", day, n, estimated_micros, status, sent_at FROM generations '
                    "WHERE id = :id AND held_for = :run AND status = :open" + conn.dialect.lock_row,
                    {"id": ledger_id, "run": held_for, "open": OPEN},
                ).fetchall()
            ]
            for row in rows:
                self._release_images(conn, row)
            for row in rows:
                self._release_spend(conn, row)
            conn.executemany(
                "UPDATE generations SET status = :refunded, actual_micros = 0, error_code = 'cancelled', "
                "held_for = NULL, settled_at = :now WHERE id = :id",
                [{"id": row["id"], "now": utc_now_iso(), "refunded": REFUNDED} for row in rows],
            )
        return [row["id"] for row in rows]

    def _admitted(self, conn: Session, row: dict[str, Any], day: date) -> bool:
        """Log and charge one reservation in the transaction; False when its id is logged already. Raises the
        quota's or the budget's refusal (the caller's transaction is then rolled back)."""
        logged = conn.execute(_LOG_FIRST, row).fetchone()
        if logged is None:
            return False
        limits = {"quota": logged["quota_images"], "budget": logged["budget_micros"]}
        if conn.execute(_CHARGE_USER_STEP, {**row, **limits}).fetchone() is None:
            self._refuse_quota(conn, row["user"], day, row["n"], limits["quota"])
        if conn.execute(_CHARGE_TEAM_STEP, {**row, **limits}).fetchone() is None:
            self._refuse_budget(conn, day, row["cost"], limits["budget"])
        return True

    def _row(
        self, ledger_id: str, user: str, n: int, estimated_micros: int, details: dict[str, Any], day: date
    ) -> dict[str, Any]:
        day_key = day.isoformat()
        return {
            "id": ledger_id,
            "user": user,
            "day": day_key,
            "created_at": utc_now_iso(),
            "preset": details.get("preset", ""),
            "model": details.get("model", ""),
            "size": details.get("size", ""),
            "quality": details.get("quality", ""),
            "n": n,
            "output_format": details.get("output_format", ""),
            "prompt": details.get("prompt", ""),
            "directed_prompt": details.get("directed_prompt", ""),
            "estimated_micros": estimated_micros,
            "status": OPEN,
            "expires_at": time.time() + self.settings.reservation_ttl,
            "default_quota": self.settings.daily_quota,
            "default_budget": to_micros(self.settings.daily_budget_usd),
            "provider": details.get("provider", ""),
            "request_id": details.get("request_id", ledger_id),
            "cost": estimated_micros,
        }

    def _reserve_at_once(self, row: dict[str, Any], day: date) -> Reservation:
        """The reservation as one statement, committed as it ends; a refusal or a repeated id changed nothing."""
        try:
            outcome = self.db.statement(_RESERVE_AT_ONCE, row)
        except KeyTaken:
            with self.db.read() as conn:
                return self._repeated(conn, row["id"])
        except Refused:  # the budget refused what the quota admitted: the statement undid the user's charge
            outcome = None
        if outcome is not None and outcome[3]:
            return Reservation(row["id"], row["user"], row["day"], row["n"], row["cost"], OPEN)
        with self.db.read() as conn:
            if _logged(conn, row["id"]) is not None:  # an earlier reservation of this id, refused now
                return self._repeated(conn, row["id"])
            if outcome is not None and not outcome[2]:
                self._refuse_quota(conn, row["user"], day, row["n"], outcome[0])
            self._refuse_budget(conn, day, row["cost"], outcome[1] if outcome else self.limits.budget_micros(conn))

    @staticmethod
    def _repeated(conn: Session, ledger_id: str) -> Reservation:
        """The reservation an id already has: a second one of the same id charges nothing."""
        seen = _logged(conn, ledger_id)
        assert seen is not None
        return Reservation(
            ledger_id, seen["user"], seen["day"], seen["n"], seen["estimated_micros"], seen["status"], duplicate=True
        )

    def _refuse_quota(self, conn: Session, user: str, day: date, n: int, quota: int) -> NoReturn:
        """Raise the quota's refusal, saying how many images are left; nothing of the reservation is kept."""
        used = conn.execute(
            'SELECT images_reserved + images_committed FROM user_day WHERE "user" = :user AND day = :day',
            {"user": user, "day": day.isoformat()},
        ).fetchone()
        raise quota_refusal(max(0, quota - (used[0] if used else 0)), quota, n, self.limits.resets_at(day))

    def _refuse_budget(self, conn: Session, day: date, estimated_micros: int, budget: int) -> NoReturn:
        """Raise the budget's refusal, saying what is left of it; nothing of the reservation is kept."""
        spent = conn.execute(
            "SELECT reserved_micros + committed_micros FROM team_day WHERE day = :day", {"day": day.isoformat()}
        ).fetchone()
        left_usd = to_usd(max(0, budget - (spent[0] if spent else 0)))
        raise budget_refusal(left_usd, to_usd(budget), to_usd(estimated_micros), self.limits.resets_at(day))

    def mark_sent(self, ledger_id: str) -> None:
        """The provider call is about to start: from now on an unsettled reservation may have been billed."""
        with self.db.write() as conn:
            conn.execute(
                "UPDATE generations SET sent_at = :now WHERE id = :id AND status = :open",
                {"now": utc_now_iso(), "id": ledger_id, "open": OPEN},
            )

    def commit(
        self,
        ledger_id: str,
        *,
        actual_micros: int,
        usage: Usage | None = None,
        timings_ms: dict[str, int] | None = None,
        image_keys: list[str] | None = None,
        revised_prompt: str | None = None,
        estimated: bool = False,
    ) -> bool:
        """Record what was really charged for delivered images, whatever the row said before: an image that
        arrives after its reservation expired, or after another process recorded it as possibly billed, is
        charged all the same (replacing that guess). Returns False when it was committed already; raises
        when there is no such request, so a commit can never pass silently."""
        timings = timings_ms or {}
        with self.db.write() as conn:
            row = _settling(conn, ledger_id)
            if row is None:
                raise LedgerUnavailable(f"No reservation {ledger_id} to commit; nothing was recorded.")
            if row["status"] == COMMITTED:
                return False
            if row["status"] == OPEN:
                self._release(conn, row)
            conn.execute(
                'UPDATE user_day SET images_committed = images_committed + :n WHERE "user" = :user AND day = :day',
                {"n": row["n"], "user": row["user"], "day": row["day"]},
            )
            already = (row["actual_micros"] or 0) if row["status"] == AMBIGUOUS else 0
            _spend(conn, row["day"], actual_micros - already)
            conn.execute(
                "UPDATE generations SET status = :status, actual_micros = :actual, input_text_tokens = :text_tokens, "
                "input_image_tokens = :image_tokens, output_tokens = :output_tokens, settled_at = :now, "
                "image_keys = :keys, revised_prompt = :revised, direct_ms = :direct, reserve_ms = :reserve, "
                "render_ms = :render, verify_ms = :verify, store_ms = :store, total_ms = :total, error_code = NULL, "
                "error_message = NULL, cost_estimated = :estimated WHERE id = :id",
                {
                    "status": COMMITTED,
                    "actual": actual_micros,
                    "estimated": int(estimated),
                    "text_tokens": usage.input_text_tokens if usage else None,
                    "image_tokens": usage.input_image_tokens if usage else None,
                    "output_tokens": usage.output_tokens if usage else None,
                    "now": utc_now_iso(),
                    "keys": json.dumps(image_keys or []),
                    "revised": revised_prompt,
                    **{stage: timings.get(stage) for stage in ("direct", "reserve", "render", "verify", "store")},
                    "total": timings.get("total"),
                    "id": ledger_id,
                },
            )
        if actual_micros > row["estimated_micros"]:
            log.error(
                "request %s cost %d micro-dollars, above its reservation of %d",
                ledger_id,
                actual_micros,
                row["estimated_micros"],
            )
        return True

    def record_timings(self, ledger_id: str, timings_ms: dict[str, int]) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE generations SET store_ms = :store, total_ms = :total WHERE id = :id",
                {"store": timings_ms.get("store"), "total": timings_ms.get("total"), "id": ledger_id},
            )

    def refund(
        self, ledger_id: str, *, error_code: str, message: str, timings_ms: dict[str, int] | None = None
    ) -> bool:
        """Return the reservation: the provider definitely did not charge."""
        return self._close(ledger_id, REFUNDED, error_code, message, timings_ms or {}, charge=0)

    def record_ambiguous(
        self,
        ledger_id: str,
        *,
        error_code: str,
        message: str,
        timings_ms: dict[str, int] | None = None,
        billed_micros: int | None = None,
    ) -> bool:
        """The provider billed (`billed_micros`, when its answer said what) or may have billed (the reserved
        upper bound) without delivering an image: keep that spend, return the images."""
        return self._close(ledger_id, AMBIGUOUS, error_code, message, timings_ms or {}, charge=billed_micros)

    def _close(
        self,
        ledger_id: str,
        status: str,
        error_code: str,
        message: str,
        timings: dict[str, int],
        *,
        charge: int | None,
    ) -> bool:
        with self.db.write() as conn:
            row = _settling(conn, ledger_id)
            if row is None or row["status"] != OPEN:
                return False
            self._release(conn, row)
            charged = row["estimated_micros"] if charge is None else min(charge, row["estimated_micros"])
            if charged:
                _spend(conn, row["day"], charged)
            conn.execute(
                "UPDATE generations SET status = :status, actual_micros = :charged, error_code = :code, "
                "error_message = :message, settled_at = :now, render_ms = :render, total_ms = :total WHERE id = :id",
                {
                    "status": status,
                    "charged": charged,
                    "code": error_code,
                    "message": message[:500],
                    "now": utc_now_iso(),
                    "render": timings.get("render"),
                    "total": timings.get("total"),
                    "id": ledger_id,
                },
            )
        return True

    def expire_stale(self, now: float | None = None) -> list[str]:
        """Release reservations whose worker never settled them (a crash) once their TTL has passed. One
        whose provider call had started may have been billed: it keeps its reserved spend (ambiguous);
        one that never reached the provider is released at $0."""
        now = time.time() if now is None else now
        with self.db.write() as conn:
            rows = conn.execute(
                'SELECT id, "user", day, n, estimated_micros, status, sent_at FROM generations '
                "WHERE status = :open AND expires_at < :now ORDER BY id" + conn.dialect.lock_rows_skipping,
                {"open": OPEN, "now": now},
            ).fetchall()
            # Counters in one order, users before the team, as every other write takes them: two sweeps
            # and a reservation never wait on each other in a circle.
            for row in sorted(rows, key=lambda r: (r["user"], r["day"])):
                self._release_images(conn, row)
            for row in sorted(rows, key=lambda r: r["day"]):
                self._release_spend(conn, row)
                if row["sent_at"]:
                    _spend(conn, row["day"], row["estimated_micros"])
            for row in rows:
                billed = bool(row["sent_at"])
                conn.execute(
                    "UPDATE generations SET status = :status, actual_micros = :charged, error_code = 'expired', "
                    "settled_at = :now, error_message = :message WHERE id = :id",
                    {
                        "status": AMBIGUOUS if billed else EXPIRED,
                        "charged": row["estimated_micros"] if billed else 0,
                        "now": utc_now_iso(),
                        "message": EXPIRED_AFTER_SENDING if billed else EXPIRED_UNSENT,
                        "id": row["id"],
                    },
                )
        return [row["id"] for row in rows]

    @classmethod
    def _release(cls, conn: Session, row: Row) -> None:
        cls._release_images(conn, row)
        cls._release_spend(conn, row)

    @staticmethod
    def _release_images(conn: Session, row: Row) -> None:
        conn.execute(
            'UPDATE user_day SET images_reserved = images_reserved - :n WHERE "user" = :user AND day = :day',
            {"n": row["n"], "user": row["user"], "day": row["day"]},
        )

    @staticmethod
    def _release_spend(conn: Session, row: Row) -> None:
        conn.execute(
            "UPDATE team_day SET reserved_micros = reserved_micros - :cost WHERE day = :day",
            {"cost": row["estimated_micros"], "day": row["day"]},
        )

    # -- reading ---------------------------------------------------------------------------------

    def generation(self, ledger_id: str) -> dict[str, Any] | None:
        rows = self.db.query("SELECT * FROM generations WHERE id = :id", {"id": ledger_id})
        return dict(rows[0]) if rows else None

    def median_seconds(
        self,
        model: str,
        quality: str,
        *,
        size: str | None = None,
        n: int | None = None,
        provider: str | None = None,
        recent: int = 50,
        minimum: int = 1,
    ) -> float | None:
        """How long the last `recent` successful generations like this one took, start to finish (the
        median): the page's ETA. Size, n and provider narrow "like this" when given; None with fewer than
        `minimum` such generations."""
        where = ["model = :model", "quality = :quality", "status = 'committed'", "total_ms IS NOT NULL"]
        for column, value in (("size", size), ("n", n), ("provider", provider)):
            if value is not None:
                where.append(f"{column} = :{column}")
        rows = self.db.query(
            f"SELECT total_ms FROM (SELECT total_ms FROM generations WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC LIMIT :recent) AS recent ORDER BY total_ms",
            {"model": model, "quality": quality, "size": size, "n": n, "provider": provider, "recent": recent},
        )
        if len(rows) < max(1, minimum):
            return None
        values = [r[0] for r in rows]
        middle = len(values) // 2
        median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
        return median / 1000


def _logged(conn: Session, ledger_id: str, lock: str = "") -> Row | None:
    """The log row of a request: what it charged, for whom, on which day, and where it stands."""
    return conn.execute(
        'SELECT "user", day, n, estimated_micros, actual_micros, status FROM generations WHERE id = :id' + lock,
        {"id": ledger_id},
    ).fetchone()


def _settling(conn: Session, ledger_id: str) -> Row | None:
    """The log row a reserve, commit or close works on, locked until the transaction ends."""
    return _logged(conn, ledger_id, conn.dialect.lock_row)


def _spend(conn: Session, day: str, micros: int) -> None:
    conn.execute(
        "UPDATE team_day SET committed_micros = committed_micros + :micros WHERE day = :day",
        {"micros": micros, "day": day},
    )


#: the limits a reservation is admitted under: the user's quota and the team's budget, set or by default
_LIMITS_NOW = (
    "COALESCE((SELECT value FROM limits WHERE kind = 'quota' AND subject = :user), :default_quota) AS quota_images, "
    "COALESCE((SELECT value FROM limits WHERE kind = 'budget' AND subject = 'team'), :default_budget) AS budget_micros"
)
#: the log row; `source`, `condition` and `repeat` say where the limits come from, when it is written, and
#: what a second reservation of the same id does
_INSERT_GENERATION = (
    'INSERT INTO generations (id, "user", day, created_at, preset, model, size, quality, n, output_format, '
    "prompt, directed_prompt, estimated_micros, status, expires_at, quota_images, budget_micros, provider, "
    "request_id) "
    "SELECT :id, :user, :day, :created_at, :preset, :model, :size, :quality, :n, :output_format, "
    ":prompt, :directed_prompt, :estimated_micros, :status, :expires_at, quota_images, budget_micros, "
    ":provider, :request_id FROM {source} WHERE {condition}{repeat} RETURNING quota_images, budget_micros"
)
#: a user's images for the day, charged only within the quota; `source` and `quota` say where the limit comes from
_CHARGE_USER = (
    'INSERT INTO user_day ("user", day, images_reserved) SELECT :user, :day, :n {source} WHERE :n <= {quota} '
    'ON CONFLICT ("user", day) DO UPDATE SET images_reserved = user_day.images_reserved + :n '
    "WHERE user_day.images_reserved + user_day.images_committed + :n <= {quota} RETURNING images_reserved"
)
#: the team's spend for the day, charged only within the budget (and, chained, only `after` the user's)
_CHARGE_TEAM = (
    "INSERT INTO team_day (day, reserved_micros) SELECT :day, :cost {source} WHERE :cost <= {budget}{after} "
    "ON CONFLICT (day) DO UPDATE SET reserved_micros = team_day.reserved_micros + :cost "
    "WHERE team_day.reserved_micros + team_day.committed_micros + :cost <= {budget} RETURNING reserved_micros"
)
#: step by step, in one transaction: the log row first, so that a second reservation of the same id waits on
#: it and then finds it; a refusal after it is undone by rolling the transaction back
_LOG_FIRST = _INSERT_GENERATION.format(
    source=f"(SELECT {_LIMITS_NOW}) AS limits_now", condition="1 = 1", repeat=" ON CONFLICT (id) DO NOTHING"
)
_CHARGE_USER_STEP = _CHARGE_USER.format(source="", quota=":quota")
_CHARGE_TEAM_STEP = _CHARGE_TEAM.format(source="", budget=":budget", after="")
#: at once, as one statement committed as it ends: the user's images, then the team's spend (only if the
#: user's were charged), then the log row (only if both were; a repeated id breaks its key and undoes it
#: all). When the budget refuses what the quota admitted, the statement refuses itself, undoing the charge.
#: Each step reads the one before it, so the rows are taken in the order every other write takes them.
_RESERVE_AT_ONCE = (
    f"WITH limits_now AS (SELECT {_LIMITS_NOW}), "
    "user_charged AS ("
    + _CHARGE_USER.format(source="FROM limits_now", quota="(SELECT quota_images FROM limits_now)")
    + "), team_charged AS ("
    + _CHARGE_TEAM.format(
        source="FROM limits_now",
        budget="(SELECT budget_micros FROM limits_now)",
        after=" AND EXISTS (SELECT 1 FROM user_charged)",
    )
    + "), logged AS ("
    + _INSERT_GENERATION.format(source="limits_now", condition="EXISTS (SELECT 1 FROM team_charged)", repeat="")
    + ") SELECT quota_images, budget_micros, EXISTS (SELECT 1 FROM user_charged), "
    "EXISTS (SELECT 1 FROM team_charged), "
    f"CASE WHEN EXISTS (SELECT 1 FROM user_charged) AND NOT EXISTS (SELECT 1 FROM team_charged) "
    f"THEN {REFUSE}('budget') END FROM limits_now"
)
