"""The admin's figures: aggregated in SQL over the generation log, returned as pandas frames."""

from __future__ import annotations

import csv
import io
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pandas as pd

from imagegen.db import Database
from imagegen.errors import InvalidRequest, LedgerUnavailable
from imagegen.ledger import Ledger, to_usd
from imagegen.redact import csv_cell
from imagegen.settings import Settings

FAILED = ("refunded", "ambiguous", "expired")
EXPORT_COLUMNS = (
    "id",
    "user",
    "day",
    "created_at",
    "preset",
    "model",
    "size",
    "quality",
    "n",
    "output_format",
    "status",
    "error_code",
    "estimated_micros",
    "actual_micros",
    "input_text_tokens",
    "input_image_tokens",
    "output_tokens",
    "direct_ms",
    "reserve_ms",
    "render_ms",
    "verify_ms",
    "store_ms",
    "total_ms",
    "provider",
    "prompt",
    "directed_prompt",
)


@dataclass(frozen=True)
class Today:
    day: str
    spend_usd: float
    in_flight_usd: float
    budget_usd: float
    images: int
    requests: int
    active_users: int
    failed_share: float
    refunded_share: float
    median_render_s: float | None


class Analytics:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def _today(self) -> date:
        return datetime.now(self.settings.tz).date()

    def _since(self, days: int) -> str:
        return (self._today() - timedelta(days=days - 1)).isoformat()

    def _frame(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        try:
            cursor = self.db.connection().execute(sql, params)
        except sqlite3.Error as exc:
            raise LedgerUnavailable(f"The generation log cannot be read ({exc}).") from exc
        columns = [d[0] for d in cursor.description]
        return pd.DataFrame([tuple(r) for r in cursor.fetchall()], columns=columns)

    def today(self) -> Today:
        day = self._today().isoformat()
        row = self.db.query(
            "SELECT COUNT(*) AS requests, "
            "COALESCE(SUM(CASE WHEN status = 'committed' THEN n END), 0) AS images, "
            "COUNT(DISTINCT user) AS users, "
            "COALESCE(SUM(status IN ('refunded', 'ambiguous', 'expired')), 0) AS failed, "
            "COALESCE(SUM(status = 'refunded'), 0) AS refunded "
            "FROM generations WHERE day = ?",
            (day,),
        )[0]
        team = self.db.query("SELECT reserved_micros, committed_micros FROM team_day WHERE day = ?", (day,))
        requests = row["requests"]
        return Today(
            day=day,
            spend_usd=to_usd(team[0]["committed_micros"]) if team else 0.0,
            in_flight_usd=to_usd(team[0]["reserved_micros"]) if team else 0.0,
            budget_usd=to_usd(Ledger(self.db, self.settings).budget_micros()),
            images=row["images"],
            requests=requests,
            active_users=row["users"],
            failed_share=row["failed"] / requests if requests else 0.0,
            refunded_share=row["refunded"] / requests if requests else 0.0,
            median_render_s=self._median("render_ms", "day = ? AND status = 'committed'", (day,)),
        )

    def _median(self, column: str, where: str, params: tuple) -> float | None:
        rows = self.db.query(
            f"SELECT {column} FROM generations WHERE {where} AND {column} IS NOT NULL "  # noqa: S608 (fixed names)
            f"ORDER BY {column} LIMIT 2 - (SELECT COUNT(*) FROM generations WHERE {where} AND {column} IS NOT NULL) % 2 "
            f"OFFSET (SELECT (COUNT(*) - 1) / 2 FROM generations WHERE {where} AND {column} IS NOT NULL)",
            params * 3,
        )
        if not rows:
            return None
        return sum(r[0] for r in rows) / len(rows) / 1000

    def spend_per_day_by_model(self, days: int = 30) -> pd.DataFrame:
        return self._frame(
            "SELECT day, model, SUM(actual_micros) / 1e6 AS spend_usd, SUM(n) AS images FROM generations "
            "WHERE day >= ? AND status IN ('committed', 'ambiguous') GROUP BY day, model ORDER BY day, model",
            (self._since(days),),
        )

    def spend_per_user(self, days: int = 30, top: int = 10) -> pd.DataFrame:
        return self._frame(
            "SELECT user, SUM(actual_micros) / 1e6 AS spend_usd, SUM(CASE WHEN status = 'committed' THEN n END) AS images "
            "FROM generations WHERE day >= ? AND status IN ('committed', 'ambiguous') "
            "GROUP BY user ORDER BY spend_usd DESC, user LIMIT ?",
            (self._since(days), top),
        )

    def quota_today(self) -> pd.DataFrame:
        frame = self._frame(
            "SELECT u.user, u.images_committed AS committed, u.images_reserved AS in_flight, "
            "COALESCE(l.value, ?) AS quota FROM user_day u "
            "LEFT JOIN limits l ON l.kind = 'quota' AND l.subject = u.user WHERE u.day = ? ORDER BY u.user",
            (self.settings.daily_quota, self._today().isoformat()),
        )
        if len(frame):
            frame["remaining"] = (frame["quota"] - frame["committed"] - frame["in_flight"]).clip(lower=0)
        return frame

    def renders_per_preset(self, days: int = 30) -> pd.DataFrame:
        return self._frame(
            "SELECT preset, COUNT(*) AS renders FROM generations WHERE day >= ? AND status = 'committed' "
            "GROUP BY preset ORDER BY renders DESC",
            (self._since(days),),
        )

    def render_time_per_model(self, days: int = 30) -> pd.DataFrame:
        """Renders, mean, median and p90 render seconds per model; percentiles to the nearest 0.1 s,
        from a histogram aggregated in SQL."""
        rows = self.db.query(
            "SELECT model, render_ms / 100 AS bucket, COUNT(*) AS renders, SUM(render_ms) AS total_ms "
            "FROM generations WHERE day >= ? AND status = 'committed' AND render_ms IS NOT NULL "
            "GROUP BY model, bucket ORDER BY model, bucket",
            (self._since(days),),
        )
        by_model: dict[str, list[tuple[int, int, int]]] = {}
        for row in rows:
            by_model.setdefault(row["model"], []).append((row["bucket"], row["renders"], row["total_ms"]))
        figures = []
        for model, buckets in by_model.items():
            count = sum(b[1] for b in buckets)
            figures.append(
                {
                    "model": model,
                    "renders": count,
                    "mean_s": sum(b[2] for b in buckets) / count / 1000,
                    "median_s": _percentile(buckets, count, 0.5),
                    "p90_s": _percentile(buckets, count, 0.9),
                }
            )
        return pd.DataFrame(figures, columns=["model", "renders", "mean_s", "median_s", "p90_s"])

    def recent(self, limit: int = 50) -> pd.DataFrame:
        """The latest generations, their times in the configured time zone."""
        frame = self._frame(
            "SELECT created_at, user, model, preset, size, quality, n, status, error_code, "
            "actual_micros / 1e6 AS cost_usd, render_ms FROM generations ORDER BY created_at DESC LIMIT ?",
            (limit,),
        )
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601").dt.tz_convert(
            self.settings.tz
        )
        return frame

    def usage_by_day_and_user(self, days: int = 7) -> pd.DataFrame:
        return self._frame(
            "SELECT day, user, SUM(CASE WHEN status = 'committed' THEN n ELSE 0 END) AS images, "
            "COUNT(*) AS requests, SUM(status IN ('refunded', 'ambiguous', 'expired')) AS failed, "
            "ROUND(COALESCE(SUM(actual_micros), 0) / 1e6, 6) AS spend_usd "
            "FROM generations WHERE day >= ? GROUP BY day, user ORDER BY day DESC, user",
            (self._since(days),),
        )

    def export_csv(self, since: date, until: date) -> str:
        """The log between two days (inclusive) as CSV, oldest first."""
        if until < since:
            raise InvalidRequest("The export's end date is before its start date.")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([_export_header(column) for column in EXPORT_COLUMNS])
        cursor = self.db.connection().execute(
            f"SELECT {', '.join(EXPORT_COLUMNS)} FROM generations WHERE day BETWEEN ? AND ? ORDER BY created_at",  # noqa: S608
            (since.isoformat(), until.isoformat()),
        )
        money = [column.endswith("_micros") for column in EXPORT_COLUMNS]
        for row in cursor:
            writer.writerow([csv_cell(_dollars(v) if is_money else v) for v, is_money in zip(row, money, strict=True)])
        return out.getvalue()


def _export_header(column: str) -> str:
    # Money is exported in dollars (exact, six places), named for its unit.
    return column.removesuffix("_micros") + "_usd" if column.endswith("_micros") else column


def _dollars(micros: int | None) -> str | None:
    return None if micros is None else str((Decimal(micros) / 1_000_000).quantize(Decimal("0.000001")))


def _percentile(buckets: list[tuple[int, int, int]], count: int, share: float) -> float:
    """The value below which `share` of the renders fall, at a bucket's midpoint (buckets of 100 ms)."""
    rank = share * count
    seen = 0
    for bucket, renders, _ in buckets:
        seen += renders
        if seen >= rank:
            return (bucket * 100 + 50) / 1000
    return (buckets[-1][0] * 100 + 50) / 1000
