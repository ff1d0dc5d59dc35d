"""What an admin sets for the whole team besides its limits, with its history (who, when, before and
after): today the team's colours, which the Director can ask for in a prompt."""

from __future__ import annotations

import re
from dataclasses import dataclass

from imagegen.db import Database
from imagegen.errors import InvalidRequest
from imagegen.localtime import utc_now_iso

#: the most colours a team's palette holds: a brand's few, not a paint box
MAX_COLOURS = 6
PALETTE = "palette"
#: whether a rewrite or description takes one of the user's images for the day ("yes"), or only money ("")
WRITING_IN_QUOTA = "writing_in_quota"
_HEX = re.compile(r"#[0-9a-f]{6}")


@dataclass(frozen=True)
class SettingChange:
    name: str
    old_value: str | None
    new_value: str
    set_by: str
    set_at: str


def parse_palette(text: str) -> tuple[str, ...]:
    """Colours as an admin types them ("#1D3557, #e63946" or "1d3557 e63946"): lower-case #rrggbb, in order,
    each once. Raises InvalidRequest naming what is not a colour."""
    colours: list[str] = []
    for word in re.split(r"[\s,;]+", text.strip()):
        if not word:
            continue
        colour = ("#" + word.lstrip("#")).lower()
        if not _HEX.fullmatch(colour):
            raise InvalidRequest(f"{word[:20]!r} is not a colour: write each as #rrggbb, such as #1d3557.")
        if colour not in colours:
            colours.append(colour)
    if len(colours) > MAX_COLOURS:
        raise InvalidRequest(f"A team palette holds at most {MAX_COLOURS} colours, not {len(colours)}.")
    return tuple(colours)


class TeamSettings:
    def __init__(self, db: Database) -> None:
        self.db = db

    def palette(self) -> tuple[str, ...]:
        rows = self.db.query("SELECT value FROM team_settings WHERE name = :name", {"name": PALETTE})
        return tuple(rows[0][0].split()) if rows and rows[0][0] else ()

    def set_palette(self, text: str, *, by: str) -> tuple[str, ...]:
        """Set the team's colours (none clears them); returns them as kept."""
        colours = parse_palette(text)
        self._set(PALETTE, " ".join(colours), by)
        return colours

    def writing_in_quota(self) -> bool:
        """Whether the writing Director's rewrites and descriptions count against a user's image quota: by
        default not (they are metered against the team budget either way)."""
        return self.value(WRITING_IN_QUOTA) == "yes"

    def set_writing_in_quota(self, counted: bool, *, by: str) -> None:
        self._set(WRITING_IN_QUOTA, "yes" if counted else "", by)

    def value(self, name: str) -> str:
        rows = self.db.query("SELECT value FROM team_settings WHERE name = :name", {"name": name})
        return rows[0][0] if rows else ""

    def set_value(self, name: str, value: str, *, by: str) -> None:
        self._set(name, value, by)

    def version(self, name: str) -> int:
        """How many times the setting changed: 0 while it was never set. Kept with what it shaped (a rewrite
        names the version of the instructions it was written under)."""
        rows = self.db.query("SELECT COUNT(*) FROM team_setting_changes WHERE name = :name", {"name": name})
        return int(rows[0][0])

    def history(self, name: str = PALETTE, limit: int = 20) -> list[SettingChange]:
        rows = self.db.query(
            "SELECT name, old_value, new_value, set_by, set_at FROM team_setting_changes WHERE name = :name "
            "ORDER BY id DESC LIMIT :limit",
            {"name": name, "limit": limit},
        )
        return [SettingChange(*row) for row in rows]

    def _set(self, name: str, value: str, by: str) -> None:
        now = utc_now_iso()
        with self.db.write() as conn:
            old = conn.execute(
                "SELECT value FROM team_settings WHERE name = :name" + conn.dialect.lock_row, {"name": name}
            ).fetchone()
            if old is not None and old[0] == value:
                return
            conn.execute(
                "INSERT INTO team_settings (name, value, set_by, set_at) VALUES (:name, :value, :by, :at) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value, set_by = excluded.set_by, "
                "set_at = excluded.set_at",
                {"name": name, "value": value, "by": by, "at": now},
            )
            conn.execute(
                "INSERT INTO team_setting_changes (name, old_value, new_value, set_by, set_at) "
                "VALUES (:name, :old, :new, :by, :at)",
                {"name": name, "old": old[0] if old else None, "new": value, "by": by, "at": now},
            )
