"""The Generate form a user last left: kept in the database so that no setting is lost on a page switch,
a reload or another device, and the next click buys what the user last chose."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from imagegen.db import Database

#: the form's fields and the type each must have; anything else is dropped, never stored
FIELDS: dict[str, type] = {
    "prompt": str,
    # an edit's instruction and the gallery image it edits ("" for an upload), kept apart from the prompt of
    # a new image: leaving an edit half done must not turn "make it night" into the next new image
    "edit_prompt": str,
    "edit_of": str,
    "preset": str,
    "model": str,
    "size": str,
    "custom_size": str,
    "quality": str,
    "n": int,
    "output_format": str,
    "background": str,
    "raw": bool,
    "lighting": str,
    "camera": str,
}
MAX_TEXT = 40_000  # above any model's prompt limit


class Drafts:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, user: str, form: Mapping[str, Any]) -> dict[str, Any]:
        """Keep the known fields of the right type; return what was kept."""
        kept = clean_form(form)
        with self.db.write() as conn:
            conn.execute(
                'INSERT INTO form_drafts ("user", form, saved_at) VALUES (:user, :form, :now) '
                'ON CONFLICT ("user") DO UPDATE SET form = excluded.form, saved_at = excluded.saved_at',
                {"user": user, "form": json.dumps(kept, sort_keys=True), "now": time.time()},
            )
        return kept

    def load(self, user: str) -> dict[str, Any]:
        rows = self.db.query('SELECT form FROM form_drafts WHERE "user" = :user', {"user": user})
        if not rows:
            return {}
        try:
            return clean_form(json.loads(rows[0]["form"]))
        except (ValueError, TypeError):
            return {}


def clean_form(form: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, kind in FIELDS.items():
        value = form.get(name)
        # bool is an int in Python: n=True is not a number of images
        if type(value) is not kind:
            continue
        if kind is str and len(value) > MAX_TEXT:
            continue
        kept[name] = value
    return kept
