"""The team's images: kept in the object store, found through an index rebuildable from the store alone."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

from imagegen.db import Database, Row
from imagegen.dialects import Dialect
from imagegen.errors import Forbidden, InvalidRequest, NotFound, StorageError
from imagegen.localtime import day_starts, next_day_starts
from imagegen.request import ASSETS, CONTENT_TYPES
from imagegen.spool import Spool
from imagegen.storage import IMMUTABLE, INVERT_FROM, NO_CACHE, PRESIGN_SECONDS, ObjectStore, check_key

PAGE_SIZE = 24
KINDS = ("edits", "originals")
NEWEST_FIRST = "ORDER BY created_at DESC, key DESC"
#: how many of the newest images a search reads in order before it asks the word index for every match
SEARCH_WINDOW = 5000
#: after a failed upload, uploads wait this long before trying storage again, so a hung store slows one
#: generation, not every one
STORAGE_BACKOFF_SECONDS = 30.0
URL_CACHE_SIZE = 10_000
RECORD_FILE = "record.json"
#: an edit's inputs no image refers to are removed only once their folder is this old (see reindex)
ORPHAN_AGE_SECONDS = 3600.0
#: an edit's input, kept in the folder of its request's first image
_INPUT_KEY = re.compile(
    r"/(?P<inverted>\d{13})-(?P<request_id>[a-z0-9_-]+)-0/(?:input-\d+\.(?:png|jpeg|webp)|mask\.png|markup\.png)$"
)
_DOOM = "INSERT INTO pending_deletes (key, since) VALUES (:key, :since) ON CONFLICT (key) DO NOTHING"
log = logging.getLogger("imagegen.history")


@dataclass(frozen=True)
class HistoryFilter:
    user: str = ""
    model: str = ""
    preset: str = ""
    since: date | None = None
    until: date | None = None
    text: str = ""
    #: search the whole directed prompt (the Director's keywords too), not only the user's words
    everywhere: bool = False
    #: only the favourites of this user
    favourites_of: str = ""
    #: "edits" (images made by editing others), "originals" (made from a prompt alone) or "" for both
    kind: str = ""
    #: "picture", "vector" (logos and icons) or "animation"; "" for every kind of asset
    asset: str = ""


@dataclass
class HistoryPage:
    items: list[dict[str, Any]]
    next_token: str | None = None


class Library:
    def __init__(self, store: ObjectStore, db: Database, prefix: str, spool: Spool, tz: tzinfo = UTC) -> None:
        self.store = store
        #: the team's time zone: a filter's days are the team's days
        self.tz = tz
        self.db = db
        self.prefix = prefix
        self.spool = spool
        self._urls: dict[str, tuple[str, float]] = {}
        self._urls_lock = threading.Lock()
        self._storage_down_until = 0.0

    # -- keeping ---------------------------------------------------------------------------------

    def keep(self, record: dict[str, Any], files: Path | Mapping[str, bytes]) -> None:
        """Put the original, its thumbnail, an edit's inputs and the record, from a spooled folder (or from
        memory, by file name, when there is no spool to read them from); index it once all are stored."""

        def body(name: str) -> Path | bytes:
            return files / name if isinstance(files, Path) else files[name]

        public = _public(record)
        for item in record.get("input_files", []):
            self._put(item["key"], body(item["file"]), item["content_type"])
        self._put(public["key"], body(record["file"]), CONTENT_TYPES[public["format"]])
        if record.get("audit_file"):  # the provider's own SVG, as text: never served as a document to draw
            self._put(public["audit_key"], body(record["audit_file"]), "text/plain; charset=utf-8")
        self._put(public["thumb_key"], body(record["thumb_file"]), "image/webp")
        self.store.put(public["record_key"], json.dumps(public, indent=1).encode(), "application/json", NO_CACHE)
        self.index(public, pending=False)

    def _put(self, key: str, body: Path | bytes, content_type: str) -> None:
        if isinstance(body, bytes):
            self.store.put(key, body, content_type, IMMUTABLE)
        else:
            self.store.put_file(key, body, content_type, IMMUTABLE)

    def index(self, record: dict[str, Any], *, pending: bool) -> None:
        with self.db.write() as conn:
            conn.execute(_UPSERT, _index_row(record, pending))

    # -- reading ---------------------------------------------------------------------------------

    def page(
        self, filters: HistoryFilter = HistoryFilter(), page_token: str | None = None, size: int = PAGE_SIZE
    ) -> HistoryPage:
        """Newest first, `size` at a time; reads only the index rows of this page."""
        where, params = _conditions(filters, self.db.dialect, self.tz, words=False)
        if page_token:
            created_at, key = _decode_token(page_token)
            where.append("(created_at < :after_created OR (created_at = :after_created AND key < :after_key))")
            params.update(after_created=created_at, after_key=key)
        params["limit"] = size + 1
        search = self.db.dialect.search(filters.text, everywhere=filters.everywhere)
        if search is None:
            sql = "SELECT record, pending FROM images" + (" WHERE " + " AND ".join(where) if where else "")
            rows = self.db.query(f"{sql} {NEWEST_FIRST} LIMIT :limit", params)
        else:
            rows = self._searched(where, *search, params)
        items = [{**json.loads(r["record"]), "pending": bool(r["pending"])} for r in rows[:size]]
        token = _encode_token(items[-1]["created_at"], items[-1]["key"]) if len(rows) > size else None
        return HistoryPage(items, token)

    def _searched(self, where: list[str], search: str, words: dict[str, str], params: dict[str, Any]) -> list[Row]:
        params = {**params, **words}
        rows = self._among_newest(where, search, params)
        if len(rows) < params["limit"]:  # not a whole page among the newest: the word index finds every match
            sql = "SELECT record, pending, created_at, key FROM images WHERE " + " AND ".join([*where, search])
            rows = self.db.query(f"{self.db.dialect.every_match(sql)} {NEWEST_FIRST} LIMIT :limit", params)
        return rows

    def _among_newest(self, where: list[str], search: str, params: dict[str, Any]) -> list[Row]:
        """A page of a search's matches among the newest `SEARCH_WINDOW` images (of those the other filters
        keep), read in order until the page is whole. A word many images have (every directed prompt says
        "golden hour") fills it within a few dozen rows, where the word index would find every match and sort
        them all: 50-85 ms at 100,000 images, against a few here. Fewer than a page means the matches are
        rare: the word index finds those at once."""
        newest = f"SELECT record, pending, created_at, key, {self.db.dialect.search_columns} FROM images"
        if where:
            newest += " WHERE " + " AND ".join(where)
        sql = (
            f"SELECT record, pending FROM ({newest} {NEWEST_FIRST} LIMIT :window) AS newest "
            f"WHERE {search} {NEWEST_FIRST} LIMIT :limit"
        )
        return self.db.query(sql, {**params, "window": SEARCH_WINDOW})

    def count(self, filters: HistoryFilter = HistoryFilter()) -> int:
        where, params = _conditions(filters, self.db.dialect, self.tz)
        sql = "SELECT COUNT(*) FROM images" + (" WHERE " + " AND ".join(where) if where else "")
        return int(self.db.query(sql, params)[0][0])

    def record(self, key: str) -> dict[str, Any]:
        rows = self.db.query(
            "SELECT record, pending FROM images WHERE key = :key", {"key": check_key(key, self.prefix)}
        )
        if not rows:
            raise NotFound("That image is not in the gallery (it may have been deleted).")
        return {**json.loads(rows[0]["record"]), "pending": bool(rows[0]["pending"])}

    def key_for_link(self, link: str) -> str:
        """The key of the image a shared link names: by its id (a link's own word), or by its key (what
        links were before); the link itself when no image has it, so that opening it says it is gone."""
        if "/" in link:
            return link
        rows = self.db.query("SELECT key FROM images WHERE id = :id", {"id": link})
        return rows[0]["key"] if rows else link

    def link_for(self, key: str) -> str:
        """What a shared link names an image by: its id, short and the same for as long as it is kept."""
        rows = self.db.query("SELECT id FROM images WHERE key = :key", {"key": key})
        return rows[0]["id"] if rows else key

    def lineage(self, key: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """An image's ancestors (its parent first, the original last) and its children (oldest first), as
        far as they are still in the gallery."""
        record = self.record(key)
        ancestors: list[dict[str, Any]] = []
        seen = {record["key"]}
        parent = record.get("parent_key")
        while parent and parent not in seen and len(ancestors) < MAX_LINEAGE:
            rows = self.db.query("SELECT record, pending FROM images WHERE key = :key", {"key": parent})
            if not rows:
                break
            seen.add(parent)
            ancestors.append({**json.loads(rows[0]["record"]), "pending": bool(rows[0]["pending"])})
            parent = ancestors[-1].get("parent_key")
        rows = self.db.query(
            "SELECT record, pending FROM images WHERE parent_key = :key ORDER BY created_at, key",
            {"key": record["key"]},
        )
        children = [{**json.loads(r["record"]), "pending": bool(r["pending"])} for r in rows]
        return ancestors, children

    def input_bytes(self, record: dict[str, Any], key: str) -> bytes:
        """One of an edit's inputs (the starting image, a reference, its mask or markup) as kept."""
        if key not in {item["key"] for item in record.get("inputs", [])}:
            raise NotFound("That file is not one of this image's inputs.")
        if record.get("pending"):
            entry = self.spool.get(record["request_id"])
            if entry is not None:
                return (entry.folder / key.rsplit("/", 1)[-1]).read_bytes()
        return self.store.get(check_key(key, self.prefix))

    def choices(self, column: str) -> list[str]:
        if column not in ("user", "model", "preset"):
            raise ValueError(column)
        quoted = f'"{column}"'
        return [r[0] for r in self.db.query(f"SELECT DISTINCT {quoted} FROM images ORDER BY {quoted}")]  # noqa: S608

    def original(self, record: dict[str, Any]) -> bytes:
        return self._bytes(record, record["key"], "file")

    def thumbnail(self, record: dict[str, Any]) -> bytes:
        return self._bytes(record, record["thumb_key"], "thumb_file")

    def _bytes(self, record: dict[str, Any], key: str, spool_name: str) -> bytes:
        if record.get("pending"):
            entry = self.spool.get(record["request_id"])
            if entry is not None:
                return (entry.folder / record[spool_name]).read_bytes()
        return self.store.get(key)

    def url(self, record: dict[str, Any], which: str = "thumb_key") -> str | None:
        """A short-lived URL the browser can load straight from S3; None when bytes must be served.

        The same URL is handed out while most of its life remains, so a page that reruns does not make
        the browser download every thumbnail again under a new signature."""
        if record.get("pending"):
            return None
        key = record[which]
        now = time.time()
        with self._urls_lock:
            cached = self._urls.get(key)
        if cached is not None and cached[1] - now > PRESIGN_SECONDS / 3:
            return cached[0]
        url = self.store.url(key, PRESIGN_SECONDS)
        if url is not None:
            with self._urls_lock:
                if len(self._urls) >= URL_CACHE_SIZE:
                    self._urls.clear()
                self._urls[key] = (url, now + PRESIGN_SECONDS)
        return url

    def favourites_among(self, user: str, keys: list[str]) -> set[str]:
        """Which of these images the user has marked as a favourite."""
        if not keys:
            return set()
        marks = ", ".join(f":key{i}" for i in range(len(keys)))
        rows = self.db.query(
            f'SELECT key FROM favourites WHERE "user" = :user AND key IN ({marks})',  # noqa: S608
            {"user": user, **{f"key{i}": key for i, key in enumerate(keys)}},
        )
        return {r[0] for r in rows}

    # -- changing --------------------------------------------------------------------------------

    def mark_favourite(self, key: str, user: str, favourite: bool) -> None:
        """Add the image to the user's favourites, or take it out; an image not in the gallery is refused."""
        record = self.record(key)
        with self.db.write() as conn:
            if favourite:
                conn.execute(
                    'INSERT INTO favourites ("user", key, created_at) VALUES (:user, :key, :now) ON CONFLICT DO NOTHING',
                    {"user": user, "key": record["key"], "now": time.time()},
                )
            else:
                conn.execute(
                    'DELETE FROM favourites WHERE "user" = :user AND key = :key', {"user": user, "key": record["key"]}
                )

    def delete(self, key: str) -> dict[str, Any]:
        """Remove an image, its thumbnail and its record; with the last image of an edit, the inputs it was
        sent with too (an uploaded face or logo does not outlive the images made from it). Which image is
        the last is decided in one transaction that locks the request's rows, so two deletes at once cannot
        both leave the inputs behind; the objects are listed for deletion in that transaction and removed
        after it, so a crash or an unreachable store in between leaves work that reconcile finishes."""
        record = self.record(key)
        with self.db.write() as conn:
            siblings = {
                row[0]
                for row in conn.execute(
                    "SELECT key FROM images WHERE request_id = :request_id" + conn.dialect.lock_row,
                    {"request_id": record["request_id"]},
                ).fetchall()
            }
            if record["key"] not in siblings:
                raise NotFound("That image is not in the gallery (it may have been deleted).")
            approved = conn.execute(
                "SELECT COUNT(*) FROM board_items WHERE image_key = :key AND review = 'approved'",
                {"key": record["key"]},
            ).fetchone()[0]
            if approved:
                raise Forbidden(
                    "This image is approved on a board: its reviewer or an admin must withdraw the approval first."
                )
            conn.execute("DELETE FROM images WHERE key = :key", {"key": record["key"]})
            conn.execute("DELETE FROM board_items WHERE image_key = :key", {"key": record["key"]})
            keys = [record["key"], record["thumb_key"], record["record_key"]]
            keys += [record["audit_key"]] if record.get("audit_key") else []
            if siblings == {record["key"]}:
                keys += [item["key"] for item in record.get("inputs") or []]
            now = time.time()
            conn.executemany(_DOOM, [{"key": k, "since": now} for k in keys])
        self.finish_deletes(keys)
        return record

    def finish_deletes(self, keys: list[str] | None = None) -> int:
        """Remove from storage the objects listed for deletion (these, or every one listed); returns how
        many were removed. A store that fails leaves them listed for the next try."""
        if keys is None:
            keys = [row[0] for row in self.db.query("SELECT key FROM pending_deletes")]
        if not keys:
            return 0
        try:
            self.store.delete(keys)
        except StorageError as exc:
            log.warning("%d stored objects wait to be deleted: %s", len(keys), exc.message)
            return 0
        with self.db.write() as conn:
            conn.executemany("DELETE FROM pending_deletes WHERE key = :key", [{"key": k} for k in keys])
        return len(keys)

    def remove_orphaned_inputs(self, keys: list[str], older_than: float | None = None) -> list[str]:
        """Of stored `keys`, delete an edit's inputs that no image of their request refers to any more (an
        older version could leave them); only in folders older than `older_than` seconds, so the inputs of
        an image being stored right now are never taken. Returns the keys removed."""
        cutoff_ms = (time.time() - (ORPHAN_AGE_SECONDS if older_than is None else older_than)) * 1000
        by_request: dict[str, list[str]] = {}
        for key in keys:
            found = _INPUT_KEY.search(key)
            if found and INVERT_FROM - int(found["inverted"]) < cutoff_ms:
                by_request.setdefault(found["request_id"], []).append(key)
        orphaned = [
            key
            for request_id, inputs in by_request.items()
            if not self.db.query("SELECT 1 FROM images WHERE request_id = :r LIMIT 1", {"r": request_id})
            for key in inputs
        ]
        if orphaned:
            self.store.delete(orphaned)
        return orphaned

    def reindex(self, workers: int = 16) -> int:
        """Rebuild the index from the records in the store alone."""
        stored = list(self.store.list_keys(self.prefix + "users/"))
        record_keys = [k for k in stored if k.endswith("/" + RECORD_FILE)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            records = list(pool.map(lambda k: json.loads(self.store.get(k)), record_keys))
        doomed = {row[0] for row in self.db.query("SELECT key FROM pending_deletes")}
        records = [r for r in records if r["key"] not in doomed]
        with self.db.write() as conn:
            conn.execute("DELETE FROM images WHERE pending = 0")
            conn.executemany(_UPSERT, [_index_row(r, pending=False) for r in records])
        self.remove_orphaned_inputs(stored)
        return len(records)

    def upload_pending(self, request_id: str, *, force: bool = False) -> int:
        """Upload a spooled request's images; returns how many were stored. Raises StorageError, at once
        while storage failed moments ago (unless forced: reconcile always tries)."""
        entry = self.spool.get(request_id)
        if entry is None:
            return 0
        if not force and time.monotonic() < self._storage_down_until:
            raise StorageError("Storage failed moments ago; the upload waits for the next sweep.")
        records = entry.data.get("records", [])
        try:
            for record in records:
                self.keep(record, entry.folder)
        except StorageError:
            self._storage_down_until = time.monotonic() + STORAGE_BACKOFF_SECONDS
            raise
        self._storage_down_until = 0.0
        self.spool.remove(request_id)
        return len(records)


_INDEXED = (
    "key",
    "id",
    "request_id",
    "user",
    "created_at",
    "model",
    "preset",
    "prompt",
    "directed_prompt",
    "revised_prompt",
    "thumb_key",
    "record_key",
)
#: how far up a lineage the detail view follows parents, so a broken record cannot make it loop forever
MAX_LINEAGE = 100


_UPSERT = (
    'INSERT INTO images (key, id, request_id, "user", created_at, model, preset, prompt, directed_prompt, '
    "revised_prompt, thumb_key, record_key, parent_key, edited, asset, pending, record) VALUES "
    "(:key, :id, :request_id, :user, :created_at, :model, :preset, :prompt, :directed_prompt, "
    ":revised_prompt, :thumb_key, :record_key, :parent_key, :edited, :asset, :pending, :record) "
    "ON CONFLICT (key) DO UPDATE SET pending = excluded.pending, record = excluded.record"
)


def _index_row(record: dict[str, Any], pending: bool) -> dict[str, Any]:
    return {
        **{k: record.get(k) for k in _INDEXED},
        "parent_key": record.get("parent_key") or None,
        "edited": int(bool(record.get("inputs"))),
        "asset": record.get("kind") or "picture",
        "pending": int(pending),
        "record": json.dumps(record),
    }


def _stored(moment: datetime) -> str:
    """A moment as created_at is stored (UTC ISO), so that stored times compare with it as text."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("file", "thumb_file", "audit_file", "input_files", "pending")}


def _conditions(
    filters: HistoryFilter, dialect: Dialect, tz: tzinfo, *, words: bool = True
) -> tuple[list[str], dict[str, Any]]:
    """The WHERE conditions of `filters`, with their parameters; without the search's words if not `words`."""
    where: list[str] = []
    params: dict[str, Any] = {}
    for column in ("user", "model", "preset"):
        value = getattr(filters, column)
        if value:
            where.append(f'"{column}" = :{column}')
            params[column] = value
    if filters.since:
        where.append("created_at >= :since")
        params["since"] = _stored(day_starts(filters.since, tz))
    if filters.until:
        where.append("created_at < :until")
        params["until"] = _stored(next_day_starts(filters.until, tz))
    search = dialect.search(filters.text, everywhere=filters.everywhere) if words else None
    if search is not None:
        where.append(search[0])
        params.update(search[1])
    if filters.favourites_of:
        where.append('key IN (SELECT key FROM favourites WHERE "user" = :favourites_of)')
        params["favourites_of"] = filters.favourites_of
    if filters.kind:
        if filters.kind not in KINDS:
            raise InvalidRequest(f"Show {' or '.join(KINDS)}, not {filters.kind!r}.")
        where.append("edited = :edited")
        params["edited"] = int(filters.kind == "edits")
    if filters.asset:
        if filters.asset not in ASSETS:
            raise InvalidRequest(f"Show {', '.join(ASSETS)}, not {filters.asset!r}.")
        where.append("asset = :asset")
        params["asset"] = filters.asset
    return where, params


def _encode_token(created_at: str, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, key]).encode()).decode()


def _decode_token(token: str) -> tuple[str, str]:
    try:
        created_at, key = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(created_at), str(key)
    except (ValueError, TypeError):
        raise InvalidRequest("That page link is not valid any more: start from the first page.") from None


__all__ = ["HistoryFilter", "HistoryPage", "Library", "StorageError"]
