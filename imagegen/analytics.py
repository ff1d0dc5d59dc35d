"""The admin's figures: aggregated in SQL over the generation log, returned as pandas frames."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd

from imagegen.db import Database
from imagegen.errors import InvalidRequest
from imagegen.limits import Limits
from imagegen.localtime import today
from imagegen.money import to_usd
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
    "cost_estimated",
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
    '(SELECT day, "user", status, requests, images, micros FROM daily_user WHERE day BETWEEN :since AND :until '
    'UNION ALL SELECT day, "user", status, COUNT(*), SUM(n), SUM(COALESCE(actual_micros, 0)) FROM generations '
    "WHERE status = 'reserved' AND day BETWEEN :since AND :until GROUP BY day, \"user\", status) AS user_days"
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
    #: of spend_usd, what was charged at a conservative rate no source gives (or without usage to price)
    estimated_usd: float = 0.0


class Analytics:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def _today(self) -> date:
        return today(self.settings.tz)

    def _since(self, days: int) -> str:
        return (self._today() - timedelta(days=days - 1)).isoformat()

    def _frame(self, sql: str, params: dict[str, object], columns: list[str]) -> pd.DataFrame:
        rows = self.db.query(sql, params)
        return pd.DataFrame([tuple(r) for r in rows], columns=columns)

    def today(self) -> Today:
        day = self._today().isoformat()
        row = self.db.query(
            f"SELECT {_whole('SUM(requests)')} AS requests, "
            f"{_whole(_COMMITTED_IMAGES)} AS images, "
            'COUNT(DISTINCT CASE WHEN requests > 0 THEN "user" END) AS users, '
            f"{_whole(_FAILED_REQUESTS)} AS failed, "
            f"{_whole(_REFUNDED_REQUESTS)} AS refunded "
            f"FROM {USER_DAYS}",
            {"since": day, "until": day},
        )[0]
        team = self.db.query("SELECT reserved_micros, committed_micros FROM team_day WHERE day = :day", {"day": day})
        requests = row["requests"]
        histogram = self._render_histogram(day, day)
        estimated = self.db.query(
            "SELECT COALESCE(SUM(actual_micros), 0) FROM generations WHERE day = :day AND cost_estimated = 1 "
            "AND status IN ('committed', 'ambiguous')",
            {"day": day},
        )[0][0]
        return Today(
            day=day,
            spend_usd=to_usd(team[0]["committed_micros"]) if team else 0.0,
            in_flight_usd=to_usd(team[0]["reserved_micros"]) if team else 0.0,
            budget_usd=to_usd(Limits(self.db, self.settings).budget_micros()),
            images=row["images"],
            requests=requests,
            active_users=row["users"],
            failed_share=row["failed"] / requests if requests else 0.0,
            refunded_share=row["refunded"] / requests if requests else 0.0,
            median_render_s=_percentile(histogram, 0.5) if histogram else None,
            estimated_usd=to_usd(int(estimated)),
        )

    def _render_histogram(self, since: str, until: str) -> list[tuple[int, int, int]]:
        """(bucket, renders, total ms) of every model's committed renders between two days."""
        rows = self.db.query(
            f"SELECT bucket, {_whole('SUM(renders)')} AS renders, {_whole('SUM(total_ms)')} AS total_ms "
            "FROM daily_render WHERE day BETWEEN :since AND :until GROUP BY bucket HAVING SUM(renders) > 0 "
            "ORDER BY bucket",
            {"since": since, "until": until},
        )
        return [(r["bucket"], r["renders"], r["total_ms"]) for r in rows]

    def spend_per_day_by_model(self, days: int = 30) -> pd.DataFrame:
        return self._frame(
            f"SELECT day, model, {_dollars_sql('SUM(micros)')}, {_whole('SUM(images)')} FROM daily_model "
            "WHERE day >= :since AND status IN ('committed', 'ambiguous') GROUP BY day, model "
            "HAVING SUM(requests) > 0 ORDER BY day, model",
            {"since": self._since(days)},
            ["day", "model", "spend_usd", "images"],
        )

    def spend_per_user(self, days: int = 30, top: int = 10) -> pd.DataFrame:
        return self._frame(
            f'SELECT "user", {_dollars_sql("SUM(micros)")}, '
            f"{_whole(_COMMITTED_IMAGES)} "
            "FROM daily_user WHERE day >= :since AND status IN ('committed', 'ambiguous') "
            'GROUP BY "user" HAVING SUM(requests) > 0 ORDER BY SUM(micros) DESC, "user" LIMIT :top',
            {"since": self._since(days), "top": top},
            ["user", "spend_usd", "images"],
        )

    def quota_today(self) -> pd.DataFrame:
        frame = self._frame(
            'SELECT u."user", u.images_committed, u.images_reserved, COALESCE(l.value, :quota) FROM user_day u '
            'LEFT JOIN limits l ON l.kind = \'quota\' AND l.subject = u."user" WHERE u.day = :day ORDER BY u."user"',
            {"quota": self.settings.daily_quota, "day": self._today().isoformat()},
            ["user", "committed", "in_flight", "quota"],
        )
        if len(frame):
            frame["remaining"] = (frame["quota"] - frame["committed"] - frame["in_flight"]).clip(lower=0)
        return frame

    def renders_per_preset(self, days: int = 30) -> pd.DataFrame:
        return self._frame(
            f"SELECT preset, {_whole('SUM(requests)')} FROM daily_preset WHERE day >= :since "
            "AND status = 'committed' GROUP BY preset HAVING SUM(requests) > 0 ORDER BY SUM(requests) DESC, preset",
            {"since": self._since(days)},
            ["preset", "renders"],
        )

    def render_time_per_model(self, days: int = 30) -> pd.DataFrame:
        """Renders, mean, median and p90 render seconds per model; percentiles within 0.1 s, from the daily
        histograms."""
        rows = self.db.query(
            f"SELECT model, bucket, {_whole('SUM(renders)')} AS renders, {_whole('SUM(total_ms)')} AS total_ms "
            "FROM daily_render WHERE day >= :since GROUP BY model, bucket HAVING SUM(renders) > 0 "
            "ORDER BY model, bucket",
            {"since": self._since(days)},
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
            f'SELECT created_at, "user", {_KIND_SQL}, model, preset, size, quality, n, status, error_code, '
            f"{_dollars_sql('actual_micros', 'cost_usd')}, render_ms FROM generations ORDER BY created_at DESC "
            "LIMIT :limit",
            {"limit": limit},
            [*RECENT_COLUMNS],
        )
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601").dt.tz_convert(
            self.settings.tz
        )
        return frame

    def usage_by_day_and_user(self, days: int = 7) -> pd.DataFrame:
        return self._frame(
            f'SELECT day, "user", {_whole(_COMMITTED_IMAGES)}, '
            f"{_whole('SUM(requests)')}, {_whole(_FAILED_REQUESTS)}, {_dollars_sql('SUM(micros)')} "
            f'FROM {USER_DAYS} GROUP BY day, "user" HAVING SUM(requests) > 0 ORDER BY day DESC, "user"',
            {"since": self._since(days), "until": self._today().isoformat()},
            ["day", "user", "images", "requests", "failed", "spend_usd"],
        ).round({"spend_usd": 6})

    def export_csv(self, since: date, until: date) -> str:
        """The log between two days (inclusive) as CSV, oldest first."""
        if until < since:
            raise InvalidRequest("The export's end date is before its start date.")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([_export_header(column) for column in EXPORT_COLUMNS])
        columns = ", ".join(f'"{column}"' for column in EXPORT_COLUMNS)
        cursor = self.db.query(
            f"SELECT {columns} FROM generations WHERE day BETWEEN :since AND :until ORDER BY created_at",  # noqa: S608
            {"since": since.isoformat(), "until": until.isoformat()},
        )
        money = [column.endswith("_micros") for column in EXPORT_COLUMNS]
        for row in cursor:
            writer.writerow([csv_cell(_dollars(v) if is_money else v) for v, is_money in zip(row, money, strict=True)])
        return out.getvalue()


RECENT_COLUMNS = (
    "created_at",
    "user",
    "kind",
    "model",
    "preset",
    "size",
    "quality",
    "n",
    "status",
    "error_code",
    "cost_usd",
    "render_ms",
)
#: the kind of asset a generation made, as the Admin page names it
_KIND_SQL = (
    "CASE output_format WHEN 'svg' THEN 'logo or icon' WHEN 'gif' THEN 'animation' WHEN 'text' THEN 'rewrite' "
    "ELSE 'picture' END AS kind"
)
_COMMITTED_IMAGES = "SUM(CASE WHEN status = 'committed' THEN images END)"
_REFUNDED_REQUESTS = "SUM(CASE WHEN status = 'refunded' THEN requests END)"
_FAILED_REQUESTS = "SUM(CASE WHEN status IN ('refunded', 'ambiguous', 'expired') THEN requests END)"


def _whole(total: str) -> str:
    """A sum as a whole number on both databases (PostgreSQL sums whole numbers as NUMERIC), 0 for none."""
    return f"CAST(COALESCE({total}, 0) AS BIGINT)"


def _dollars_sql(micros: str, name: str = "spend_usd") -> str:
    return f"CAST({micros} AS DOUBLE PRECISION) / 1000000 AS {name}"


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
