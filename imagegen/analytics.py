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

#: Each user's daily totals between two days: the rollup of settled requests, and the open reservations
#: (which the rollup leaves out; a handful at any moment) from the log.
USER_DAYS = (
    "(SELECT day, user, status, requests, images, micros FROM daily_user WHERE day BETWEEN ?1 AND ?2 "
    "UNION ALL SELECT day, user, status, COUNT(*), SUM(n), SUM(COALESCE(actual_micros, 0)) FROM generations "
    "WHERE status = 'reserved' AND day BETWEEN ?1 AND ?2 GROUP BY day, user)"
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
            "SELECT COALESCE(SUM(requests), 0) AS requests, "
            "COALESCE(SUM(CASE WHEN status = 'committed' THEN images END), 0) AS images, "
            "COUNT(DISTINCT CASE WHEN requests > 0 THEN user END) AS users, "
            "COALESCE(SUM(CASE WHEN status IN ('refunded', 'ambiguous', 'expired') THEN requests END), 0) AS failed, "
            "COALESCE(SUM(CASE WHEN status = 'refunded' THEN requests END), 0) AS refunded "
            f"FROM {USER_DAYS}",
            (day, day),
        )[0]
        team = self.db.query("SELECT reserved_micros, committed_micros FROM team_day WHERE day = ?", (day,))
        requests = row["requests"]
        histogram = self._render_histogram(day, day)
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
            median_render_s=_percentile(histogram, 0.5) if histogram else None,
        )

    def _render_histogram(self, since: str, until: str) -> list[tuple[int, int, int]]:
        """(bucket, renders, total ms) of every model's committed renders between two days."""
        rows = self.db.query(
            "SELECT bucket, SUM(renders) AS renders, SUM(total_ms) AS total_ms FROM daily_render "
            "WHERE day BETWEEN ? AND ? GROUP BY bucket HAVING SUM(renders) > 0 ORDER BY bucket",
            (since, until),
        )
        return [(r["bucket"], r["renders"], r["total_ms"]) for r in rows]

    def spend_per_day_by_model(self, days: int = 30) -> pd.DataFrame:
        return self._frame(
            "SELECT day, model, SUM(micros) / 1e6 AS spend_usd, SUM(images) AS images FROM daily_model "
            "WHERE day >= ? AND status IN ('committed', 'ambiguous') GROUP BY day, model HAVING SUM(requests) > 0 "
            "ORDER BY day, model",
            (self._since(days),),
        )

    def spend_per_user(self, days: int = 30, top: int = 10) -> pd.DataFrame:
        return self._frame(
            "SELECT user, SUM(micros) / 1e6 AS spend_usd, SUM(CASE WHEN status = 'committed' THEN images END) AS images "
            "FROM daily_user WHERE day >= ? AND status IN ('committed', 'ambiguous') "
            "GROUP BY user HAVING SUM(requests) > 0 ORDER BY spend_usd DESC, user LIMIT ?",
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
            "SELECT preset, SUM(requests) AS renders FROM daily_preset WHERE day >= ? AND status = 'committed' "
            "GROUP BY preset HAVING SUM(requests) > 0 ORDER BY renders DESC, preset",
            (self._since(days),),
        )

    def render_time_per_model(self, days: int = 30) -> pd.DataFrame:
        """Renders, mean, median and p90 render seconds per model; percentiles within 0.1 s, from the daily
        histograms."""
        rows = self.db.query(
            "SELECT model, bucket, SUM(renders) AS renders, SUM(total_ms) AS total_ms FROM daily_render "
            "WHERE day >= ? GROUP BY model, bucket HAVING SUM(renders) > 0 ORDER BY model, bucket",
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
                    "median_s": _percentile(buckets, 0.5),
                    "p90_s": _percentile(buckets, 0.9),
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
            "SELECT day, user, SUM(CASE WHEN status = 'committed' THEN images ELSE 0 END) AS images, "
            "SUM(requests) AS requests, "
            "SUM(CASE WHEN status IN ('refunded', 'ambiguous', 'expired') THEN requests ELSE 0 END) AS failed, "
            "ROUND(SUM(micros) / 1e6, 6) AS spend_usd "
            f"FROM {USER_DAYS} GROUP BY day, user HAVING SUM(requests) > 0 ORDER BY day DESC, user",
            (self._since(days), self._today().isoformat()),
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


def _percentile(buckets: list[tuple[int, int, int]], share: float) -> float:
    """The seconds below which `share` of the renders fall: the mean of the 100 ms bucket it falls in, so
    within 0.1 s of the exact figure, and exact when the bucket holds one value."""
    rank = share * sum(b[1] for b in buckets)
    seen = 0
    for _, renders, total_ms in buckets:
        seen += renders
        if seen >= rank:
            return total_ms / renders / 1000
    return buckets[-1][2] / buckets[-1][1] / 1000
