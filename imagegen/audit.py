"""The invariants the ledger must always pass: the counters agree with the log, no limit is overshot, no
charge exceeds its reservation, and an image and its charge never part. Empty when sound."""

from __future__ import annotations

from imagegen.db import Database, Session
from imagegen.money import to_usd


def check_invariants(db: Database) -> list[str]:
    """Every way the counters and the log could disagree, a limit be overshot, a charge exceed its
    reservation, or an image and its charge part; empty when sound."""
    with db.read() as conn:
        return [*_user_day_problems(conn), *_team_day_problems(conn), *_charge_problems(conn)]


def _user_day_problems(conn: Session) -> list[str]:
    problems = []
    for row in conn.execute(
        'SELECT u."user", u.day, u.images_reserved, u.images_committed, '
        'COALESCE((SELECT SUM(n) FROM generations g WHERE g."user" = u."user" AND g.day = u.day AND g.status = \'reserved\'), 0) AS log_reserved, '
        'COALESCE((SELECT SUM(n) FROM generations g WHERE g."user" = u."user" AND g.day = u.day AND g.status = \'committed\'), 0) AS log_committed, '
        'COALESCE((SELECT MAX(quota_images) FROM generations g WHERE g."user" = u."user" AND g.day = u.day), 0) AS quota '
        "FROM user_day u"
    ):
        used = row["images_reserved"] + row["images_committed"]
        if used > row["quota"]:
            problems.append(f"{row['user']} on {row['day']}: {used} images over quota {row['quota']}")
        problems += _disagreement(
            f"{row['user']} on {row['day']}",
            (row["images_reserved"], row["images_committed"]),
            (row["log_reserved"], row["log_committed"]),
            "reserved/committed images",
        )
    return problems


def _team_day_problems(conn: Session) -> list[str]:
    problems = []
    for row in conn.execute(
        "SELECT t.day, t.reserved_micros, t.committed_micros, "
        "COALESCE((SELECT SUM(estimated_micros) FROM generations g WHERE g.day = t.day AND g.status = 'reserved'), 0) AS log_reserved, "
        "COALESCE((SELECT SUM(actual_micros) FROM generations g WHERE g.day = t.day AND g.status IN ('committed', 'ambiguous')), 0) AS log_committed, "
        "COALESCE((SELECT MAX(budget_micros) FROM generations g WHERE g.day = t.day), 0) AS budget "
        "FROM team_day t"
    ):
        total = row["reserved_micros"] + row["committed_micros"]
        if total > row["budget"]:
            problems.append(
                f"team on {row['day']}: ${to_usd(total):.6f} reserved+spent over budget ${to_usd(row['budget']):.6f}"
            )
        problems += _disagreement(
            f"team on {row['day']}",
            (row["reserved_micros"], row["committed_micros"]),
            (row["log_reserved"], row["log_committed"]),
            "reserved/spent micro-dollars",
        )
    return problems


def _disagreement(subject: str, counters: tuple[int, int], logged: tuple[int, int], unit: str) -> list[str]:
    if counters == logged:
        return []
    return [f"{subject}: counters {counters[0]}/{counters[1]} but log {logged[0]}/{logged[1]} ({unit})"]


def _charge_problems(conn: Session) -> list[str]:
    problems = [
        f"request {row['id']}: charged ${to_usd(row['actual_micros']):.6f}, above its reservation of "
        f"${to_usd(row['estimated_micros']):.6f}"
        for row in conn.execute(
            "SELECT id, actual_micros, estimated_micros FROM generations "
            "WHERE status IN ('committed', 'ambiguous') AND actual_micros > estimated_micros"
        )
    ]
    problems += [
        f"request {row['id']}: charged but has no image"
        for row in conn.execute(
            # a rewrite (output "text") is charged for words, not images
            "SELECT id FROM generations WHERE status = 'committed' AND output_format <> 'text' "
            "AND (image_keys IS NULL OR image_keys IN ('', '[]'))"
        )
    ]
    problems += [
        f"image {row['key']}: kept without a charge (request {row['request_id']})"
        for row in conn.execute(
            "SELECT key, request_id FROM images i WHERE NOT EXISTS "
            "(SELECT 1 FROM generations g WHERE g.id = i.request_id AND g.status = 'committed')"
        )
    ]
    return problems
