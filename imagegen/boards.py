"""Boards: named sets of the team's images with an owner, a description and a visibility, and the roles
that decide who may change them. Every change checks the asker's role in the transaction that makes it,
after locking the board's row, so a board made private or a member removed at the same moment is obeyed.
Removing a board or an image from it never deletes an image."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from imagegen.checks import check_user, clean_text, visible
from imagegen.db import Database, Session
from imagegen.errors import Forbidden, InvalidRequest, NotFound
from imagegen.localtime import utc_now_iso

VISIBILITIES = ("private", "team")
#: a member's role on a board (the owner is the board's own); an admin may do what an owner may
ROLES = ("editor", "viewer")
MAX_NAME = 80
MAX_DESCRIPTION = 2000
#: what a run or a person may put on one board
MAX_ITEMS = 2000
_ID_BYTES = 5

#: what each role may do; "review" is not a role's but a reviewer's (an admin or one named for the board)
VIEW, ADD, REMOVE, REORDER, SUBMIT = "view", "add", "remove", "reorder", "submit"
RENAME, SHARE, MEMBERS, DELETE = "rename", "visibility", "members", "delete"
REVIEW, NAME_REVIEWERS, BRAND_KIT = "review", "name reviewers", "brand kit"
_MAY = {
    "viewer": frozenset({VIEW}),
    "editor": frozenset({VIEW, ADD, REMOVE, REORDER, SUBMIT}),
    "owner": frozenset({VIEW, ADD, REMOVE, REORDER, SUBMIT, RENAME, SHARE, MEMBERS, DELETE}),
}
_ADMIN_ONLY = frozenset({NAME_REVIEWERS, BRAND_KIT})
_GONE = "That board is not there, or it is private. Ask its owner to share it."


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    description: str
    owner: str
    visibility: str
    brand_kit: bool
    created_at: str
    #: the asker's role: "owner", "editor", "viewer", or "admin" for an admin who is none of these
    role: str
    #: what the asker may do here (VIEW, ADD, ... REVIEW): pages draw only these
    may: frozenset[str]
    images: int = 0

    def can(self, action: str) -> bool:
        return action in self.may


@dataclass(frozen=True)
class Member:
    user: str
    role: str
    reviewer: bool


def board_text(name: str, description: str) -> tuple[str, str]:
    """A board's name and description as kept: controls removed, a visible name of at most MAX_NAME
    characters, a description of at most MAX_DESCRIPTION. Raises InvalidRequest saying what to change."""
    if not isinstance(name, str) or not isinstance(description, str):
        raise InvalidRequest("A board's name and description are text.")
    name = " ".join(clean_text(name)[0].split())
    description = clean_text(description)[0].strip()
    if not visible(name):
        raise InvalidRequest("Give the board a name.")
    if len(name) > MAX_NAME:
        raise InvalidRequest(f"A board's name is at most {MAX_NAME} characters, not {len(name)}.")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(f"A board's description is at most {MAX_DESCRIPTION} characters, not {len(description)}.")
    return name, description


def check_visibility(visibility: str) -> str:
    if visibility not in VISIBILITIES:
        raise InvalidRequest(f"A board is {' or '.join(VISIBILITIES)}, not {str(visibility)[:20]!r}.")
    return visibility


class Boards:
    def __init__(self, db: Database, is_admin: Callable[[str], bool]) -> None:
        self.db = db
        self.is_admin = is_admin

    # -- who may do what ---------------------------------------------------------------------------

    def _access(self, conn: Session, row: Any, user: str) -> tuple[str, frozenset[str]]:
        """The user's role on the board in `row` and what it lets them do; ("", {}) when they may not see it."""
        admin = self.is_admin(user)
        if row["owner"] == user:
            role = "owner"
        else:
            member = conn.execute(
                'SELECT role FROM board_members WHERE board_id = :id AND "user" = :user',
                {"id": row["id"], "user": user},
            ).fetchone()
            role = member["role"] if member else ("viewer" if row["visibility"] == "team" else "")
        may = set(_MAY.get(role, ()))
        if admin:
            may |= _MAY["owner"] | _ADMIN_ONLY | {REVIEW}
            role = role if role == "owner" else "admin"
        elif role and self._names_reviewer(conn, row["id"], user):
            may.add(REVIEW)
        return role, frozenset(may)

    @staticmethod
    def _names_reviewer(conn: Session, board_id: str, user: str) -> bool:
        return (
            conn.execute(
                'SELECT 1 FROM board_reviewers WHERE board_id = :id AND "user" = :user', {"id": board_id, "user": user}
            ).fetchone()
            is not None
        )

    def _board(self, conn: Session, board_id: str, user: str, *, lock: bool = False) -> Board:
        """The board as `user` sees it; NotFound when it is not there or they may not see it (a private board
        is not told apart from none)."""
        if not isinstance(board_id, str) or not board_id.isalnum():
            raise NotFound(_GONE)
        row = conn.execute(
            "SELECT id, name, description, owner, visibility, brand_kit, created_at FROM boards WHERE id = :id"
            + (conn.dialect.lock_row if lock else ""),
            {"id": board_id},
        ).fetchone()
        if row is None:
            raise NotFound(_GONE)
        role, may = self._access(conn, row, user)
        if VIEW not in may:
            raise NotFound(_GONE)
        images = conn.execute("SELECT COUNT(*) FROM board_items WHERE board_id = :id", {"id": board_id}).fetchone()[0]
        return Board(
            row["id"], row["name"], row["description"], row["owner"], row["visibility"], bool(row["brand_kit"]),
            row["created_at"], role, may, int(images),
        )  # fmt: skip

    def changing(self, conn: Session, board_id: str, user: str, action: str) -> Board:
        """The board, locked for a change `user` must be allowed to make; Forbidden names the role it needs."""
        board = self._board(conn, board_id, check_user(user), lock=True)
        if action not in board.may:
            raise Forbidden(_refusal(action, board))
        return board

    # -- boards ------------------------------------------------------------------------------------

    def create(self, name: str, user: str, *, description: str = "", visibility: str = "private") -> Board:
        user = check_user(user)
        name, description = board_text(name, description)
        board_id = secrets.token_hex(_ID_BYTES)
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO boards (id, name, description, owner, visibility, brand_kit, created_at) "
                "VALUES (:id, :name, :description, :owner, :visibility, 0, :now)",
                {"id": board_id, "name": name, "description": description, "owner": user,
                 "visibility": check_visibility(visibility), "now": utc_now_iso()},
            )  # fmt: skip
            return self._board(conn, board_id, user)

    def board(self, board_id: str, user: str) -> Board:
        with self.db.read() as conn:
            return self._board(conn, board_id, check_user(user))

    def boards_for(self, user: str) -> list[Board]:
        """The boards `user` may see (an admin sees every one): the brand kit first, then by name."""
        user = check_user(user)
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT id FROM boards WHERE owner = :user OR visibility = 'team' OR :admin = 1 OR id IN "
                '(SELECT board_id FROM board_members WHERE "user" = :user) ORDER BY brand_kit DESC, LOWER(name), id',
                {"user": user, "admin": int(self.is_admin(user))},
            ).fetchall()
            return [self._board(conn, row["id"], user) for row in rows]

    def rename(self, board_id: str, user: str, name: str, description: str) -> Board:
        name, description = board_text(name, description)
        with self.db.write() as conn:
            self.changing(conn, board_id, user, RENAME)
            conn.execute(
                "UPDATE boards SET name = :name, description = :description WHERE id = :id",
                {"name": name, "description": description, "id": board_id},
            )
            return self._board(conn, board_id, user)

    def set_visibility(self, board_id: str, user: str, visibility: str) -> Board:
        visibility = check_visibility(visibility)
        with self.db.write() as conn:
            board = self.changing(conn, board_id, user, SHARE)
            if board.brand_kit and visibility != "team":
                raise InvalidRequest(
                    "The brand kit is the team's: unmark it as the brand kit before making it private."
                )
            conn.execute("UPDATE boards SET visibility = :v WHERE id = :id", {"v": visibility, "id": board_id})
            return self._board(conn, board_id, user)

    def delete(self, board_id: str, user: str) -> None:
        """Remove the board, its members and its list of images; the images stay in the gallery, and the
        review decisions stay in the log. A board holding an approved image keeps it until it is withdrawn."""
        with self.db.write() as conn:
            self.changing(conn, board_id, user, DELETE)
            approved = conn.execute(
                "SELECT COUNT(*) FROM board_items WHERE board_id = :id AND review = 'approved'", {"id": board_id}
            ).fetchone()[0]
            if approved:
                raise Forbidden(
                    f"{approved} image{'s' if approved != 1 else ''} on this board "
                    f"{'are' if approved != 1 else 'is'} approved: withdraw the approval first."
                )
            for table in ("board_items", "board_members", "board_reviewers"):
                conn.execute(f"DELETE FROM {table} WHERE board_id = :id", {"id": board_id})
            conn.execute("DELETE FROM boards WHERE id = :id", {"id": board_id})

    def set_brand_kit(self, board_id: str, user: str, brand_kit: bool) -> Board:
        """Mark a team board as the team's brand kit (one at most: marking one unmarks the last), or unmark it."""
        with self.db.write() as conn:
            board = self.changing(conn, board_id, user, BRAND_KIT)
            if brand_kit and board.visibility != "team":
                raise InvalidRequest("The brand kit is the team's: make the board visible to the team first.")
            if brand_kit:
                conn.execute("UPDATE boards SET brand_kit = 0 WHERE brand_kit = 1 AND id <> :id", {"id": board_id})
            conn.execute("UPDATE boards SET brand_kit = :on WHERE id = :id", {"on": int(brand_kit), "id": board_id})
            return self._board(conn, board_id, user)

    def brand_kit_id(self) -> str | None:
        rows = self.db.query("SELECT id FROM boards WHERE brand_kit = 1")
        return rows[0][0] if rows else None

    # -- members -----------------------------------------------------------------------------------

    def members(self, board_id: str, user: str) -> list[Member]:
        with self.db.read() as conn:
            self._board(conn, board_id, check_user(user))
            rows = conn.execute(
                'SELECT "user", role FROM board_members WHERE board_id = :id ORDER BY "user"', {"id": board_id}
            ).fetchall()
            reviewers = {
                r[0] for r in conn.execute('SELECT "user" FROM board_reviewers WHERE board_id = :id', {"id": board_id})
            }
        named = [Member(r["user"], r["role"], r["user"] in reviewers) for r in rows]
        listed = {m.user for m in named}
        return named + [Member(who, "", True) for who in sorted(reviewers - listed)]

    def set_member(self, board_id: str, user: str, member: str, role: str | None) -> None:
        """Give `member` a role on the board, or none (`role` None) to take it away."""
        member = check_user(member)
        if role is not None and role not in ROLES:
            raise InvalidRequest(f"A member is an {' or a '.join(ROLES)}, not {str(role)[:20]!r}.")
        with self.db.write() as conn:
            board = self.changing(conn, board_id, user, MEMBERS)
            if member == board.owner:
                raise InvalidRequest("The owner has every right on their board already.")
            conn.execute(
                'DELETE FROM board_members WHERE board_id = :id AND "user" = :member',
                {"id": board_id, "member": member},
            )
            if role is not None:
                conn.execute(
                    'INSERT INTO board_members (board_id, "user", role) VALUES (:id, :member, :role)',
                    {"id": board_id, "member": member, "role": role},
                )

    def set_reviewer(self, board_id: str, user: str, member: str, reviewer: bool) -> None:
        """Name (or unname) `member` a reviewer of this board: an admin's to decide. A reviewer who is not a
        member of a private board sees it to review it."""
        member = check_user(member)
        with self.db.write() as conn:
            self.changing(conn, board_id, user, NAME_REVIEWERS)
            conn.execute(
                'DELETE FROM board_reviewers WHERE board_id = :id AND "user" = :member',
                {"id": board_id, "member": member},
            )
            if reviewer:
                conn.execute(
                    'INSERT INTO board_reviewers (board_id, "user") VALUES (:id, :member)',
                    {"id": board_id, "member": member},
                )
                conn.execute(
                    "INSERT INTO board_members (board_id, \"user\", role) VALUES (:id, :member, 'viewer') "
                    "ON CONFLICT DO NOTHING",
                    {"id": board_id, "member": member},
                )

    # -- images on a board -------------------------------------------------------------------------

    def add(self, board_id: str, user: str, keys: Iterable[str]) -> int:
        """Put gallery images on the board, after those already there; returns how many were new."""
        keys = list(dict.fromkeys(keys))
        user = check_user(user)
        with self.db.write() as conn:
            self.changing(conn, board_id, user, ADD)
            return self.add_in(conn, board_id, user, keys)

    def add_in(self, conn: Session, board_id: str, user: str, keys: list[str]) -> int:
        """`add`, in a transaction that has checked the user may."""
        found = _existing(conn, keys)
        if missing := [k for k in keys if k not in found]:
            raise NotFound(
                f"{len(missing)} of those images {'is' if len(missing) == 1 else 'are'} no longer in the gallery."
            )
        there = {r[0] for r in conn.execute("SELECT image_key FROM board_items WHERE board_id = :id", {"id": board_id})}
        new = [k for k in keys if k not in there]
        if len(there) + len(new) > MAX_ITEMS:
            raise InvalidRequest(f"A board holds at most {MAX_ITEMS} images.")
        last = conn.execute("SELECT MAX(position) FROM board_items WHERE board_id = :id", {"id": board_id}).fetchone()[
            0
        ]
        now = utc_now_iso()
        conn.executemany(
            "INSERT INTO board_items (board_id, image_key, added_by, added_at, position, review) "
            "VALUES (:id, :key, :user, :now, :position, '')",
            [{"id": board_id, "key": k, "user": user, "now": now, "position": (last or 0) + 1 + i}
             for i, k in enumerate(new)],
        )  # fmt: skip
        return len(new)

    def remove(self, board_id: str, user: str, key: str) -> None:
        with self.db.write() as conn:
            self.changing(conn, board_id, user, REMOVE)
            review = review_state(conn, board_id, key)
            if review == "approved":
                raise Forbidden("This image is approved on this board: withdraw the approval before taking it off.")
            conn.execute(
                "DELETE FROM board_items WHERE board_id = :id AND image_key = :key", {"id": board_id, "key": key}
            )

    def reorder(self, board_id: str, user: str, keys: list[str]) -> None:
        """Put the board's images in this order (every image on the board, each once)."""
        with self.db.write() as conn:
            self.changing(conn, board_id, user, REORDER)
            there = {
                r[0] for r in conn.execute("SELECT image_key FROM board_items WHERE board_id = :id", {"id": board_id})
            }
            if len(keys) != len(set(keys)) or set(keys) != there:
                raise InvalidRequest("The board changed while you were ordering it: reload it and try again.")
            conn.executemany(
                "UPDATE board_items SET position = :position WHERE board_id = :id AND image_key = :key",
                [{"position": i + 1, "id": board_id, "key": k} for i, k in enumerate(keys)],
            )

    def move(self, board_id: str, user: str, key: str, by: int) -> None:
        """Move one image `by` places (negative: earlier), as far as the board goes."""
        order = [item["image_key"] for item in self.items(board_id, user)]
        if key not in order:
            raise NotFound("That image is not on this board.")
        at = order.index(key)
        order.insert(max(0, min(len(order) - 1, at + by)), order.pop(at))
        self.reorder(board_id, user, order)

    def items(self, board_id: str, user: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The board's images in order (the first `limit` of them): each gallery row with who added it and
        when, its review, and its `link` (what a shared link names it by)."""
        with self.db.read() as conn:
            self._board(conn, board_id, check_user(user))
            rows = conn.execute(
                "SELECT b.image_key, b.added_by, b.added_at, b.position, b.review, b.reviewed_by, b.reviewed_at, "
                "b.review_comment, i.id AS link, i.record FROM board_items b JOIN images i ON i.key = b.image_key "
                "WHERE b.board_id = :id ORDER BY b.position, b.added_at" + (" LIMIT :limit" if limit else ""),
                {"id": board_id, "limit": limit},
            ).fetchall()
        return [{**dict(row), "record": json.loads(row["record"])} for row in rows]

    def boards_holding(self, key: str, user: str) -> list[Board]:
        """The boards `user` may see that hold this image."""
        with self.db.read() as conn:
            ids = [r[0] for r in conn.execute("SELECT board_id FROM board_items WHERE image_key = :k", {"k": key})]
            seen = []
            for board_id in ids:
                try:
                    seen.append(self._board(conn, board_id, check_user(user)))
                except NotFound:
                    continue
        return seen

    def approved_among(self, keys: list[str]) -> set[str]:
        """Which of these images are approved on some board: the mark they carry everywhere."""
        if not keys:
            return set()
        marks = ", ".join(f":k{i}" for i in range(len(keys)))
        rows = self.db.query(
            f"SELECT DISTINCT image_key FROM board_items WHERE review = 'approved' AND image_key IN ({marks})",
            {f"k{i}": k for i, k in enumerate(keys)},
        )
        return {r[0] for r in rows}


def _existing(conn: Session, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    marks = ", ".join(f":k{i}" for i in range(len(keys)))
    rows = conn.execute(f"SELECT key FROM images WHERE key IN ({marks})", {f"k{i}": k for i, k in enumerate(keys)})
    return {r[0] for r in rows}


def review_state(conn: Session, board_id: str, key: str) -> str | None:
    row = conn.execute(
        "SELECT review FROM board_items WHERE board_id = :id AND image_key = :key" + conn.dialect.lock_row,
        {"id": board_id, "key": key},
    ).fetchone()
    return None if row is None else row["review"]


def _refusal(action: str, board: Board) -> str:
    if action in _ADMIN_ONLY:
        return "Only an admin may do that."
    if action == REVIEW:
        return "Only an admin or a reviewer named for this board may review its images."
    needed = "an editor or its owner" if action in _MAY["editor"] else "its owner or an admin"
    return f"You are {('a ' + board.role) if board.role else 'not a member'} of this board: only {needed} may do that."
