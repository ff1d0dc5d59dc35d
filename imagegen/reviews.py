"""Review of the images on a board: an editor submits one, a reviewer (an admin, or a user an admin names for
the board) approves it or asks for changes with a comment, and an edit answers a change request. Each
decision is kept in a log (who, when, what, the comment, the image that answered it); the board's row for
the image holds where the review stands, so the gallery can mark approved images at once. An approved
image cannot be deleted, or taken off its board, until its approval is withdrawn by its reviewer or an
admin."""

from __future__ import annotations

from dataclasses import dataclass

from imagegen.boards import REVIEW, SUBMIT, Boards, review_state
from imagegen.checks import check_user, clean_text
from imagegen.db import Session
from imagegen.errors import Forbidden, InvalidRequest, NotFound
from imagegen.localtime import utc_now_iso

SUBMITTED, APPROVED, CHANGES, WITHDRAWN, ANSWERED = (
    "submitted",
    "approved",
    "changes requested",
    "withdrawn",
    "answered",
)
MAX_COMMENT = 2000
#: how far up an image's lineage an answering edit may be from the image it answers
MAX_LINEAGE = 50


@dataclass(frozen=True)
class Decision:
    board_id: str
    image_key: str
    action: str
    by: str
    at: str
    comment: str
    #: for ANSWERED: the edit that answers the change request
    answer_key: str


def _comment(text: str) -> str:
    if not isinstance(text, str):
        raise InvalidRequest("A review comment is text.")
    text = clean_text(text)[0].strip()
    if len(text) > MAX_COMMENT:
        raise InvalidRequest(f"A review comment is at most {MAX_COMMENT} characters, not {len(text)}.")
    return text


class Reviews:
    def __init__(self, boards: Boards) -> None:
        self.boards = boards
        self.db = boards.db

    def submit(self, board_id: str, user: str, key: str, comment: str = "") -> None:
        comment = _comment(comment)
        with self.db.write() as conn:
            self.boards.changing(conn, board_id, user, SUBMIT)
            state = _on_board(conn, board_id, key)
            if state in (SUBMITTED, APPROVED):
                raise InvalidRequest(f"This image is {state} already.")
            self._decide(conn, board_id, key, SUBMITTED, user, comment)

    def approve(self, board_id: str, user: str, key: str, comment: str = "") -> None:
        self._review(board_id, user, key, APPROVED, _comment(comment))

    def request_changes(self, board_id: str, user: str, key: str, comment: str) -> None:
        comment = _comment(comment)
        if not comment:
            raise InvalidRequest("Say what should change: a change request needs a comment.")
        self._review(board_id, user, key, CHANGES, comment)

    def _review(self, board_id: str, user: str, key: str, action: str, comment: str) -> None:
        with self.db.write() as conn:
            self.boards.changing(conn, board_id, user, REVIEW)
            _lock_image(conn, key)
            if (state := _on_board(conn, board_id, key)) != SUBMITTED:
                raise InvalidRequest(
                    f"Only an image submitted for review can be reviewed; this one is {state or 'not'}."
                )
            self._decide(conn, board_id, key, action, user, comment)

    def withdraw(self, board_id: str, user: str, key: str, comment: str = "") -> None:
        """Take back an approval: its reviewer's, or an admin's, to do."""
        comment = _comment(comment)
        user = check_user(user)
        with self.db.write() as conn:
            self.boards.changing(conn, board_id, user, REVIEW)
            if _on_board(conn, board_id, key) != APPROVED:
                raise InvalidRequest("Only an approved image's approval can be withdrawn.")
            approver = conn.execute(
                "SELECT reviewed_by FROM board_items WHERE board_id = :id AND image_key = :key",
                {"id": board_id, "key": key},
            ).fetchone()[0]
            if approver != user and not self.boards.is_admin(user):
                raise Forbidden(f"Only {approver}, who approved it, or an admin may withdraw this approval.")
            self._decide(conn, board_id, key, WITHDRAWN, user, comment)

    def answer(self, board_id: str, user: str, key: str, answer_key: str, comment: str = "") -> None:
        """Name the edit `answer_key` (made from `key`, or from an edit of it) as the answer to the change
        asked for `key`: it goes on the board, submitted for review, and the log links the two."""
        comment = _comment(comment)
        user = check_user(user)
        with self.db.write() as conn:
            self.boards.changing(conn, board_id, user, SUBMIT)
            if _on_board(conn, board_id, key) != CHANGES:
                raise InvalidRequest("Only an image whose reviewer asked for changes can be answered.")
            if not _descends_from(conn, answer_key, key):
                raise InvalidRequest("The answer must be an edit made from this image (or from an edit of it).")
            self.boards.add_in(conn, board_id, user, [answer_key])
            self._decide(conn, board_id, key, ANSWERED, user, comment, answer_key=answer_key)
            if _on_board(conn, board_id, answer_key) not in (SUBMITTED, APPROVED):
                self._decide(conn, board_id, answer_key, SUBMITTED, user, comment)

    def decisions(self, key: str, user: str) -> list[Decision]:
        """Every review decision about this image on the boards `user` may see, oldest first; and those
        whose answer it is."""
        visible = {board.id for board in self.boards.boards_holding(key, user)}
        rows = self.db.query(
            "SELECT board_id, image_key, action, by_user, at, comment, answer_key FROM review_decisions "
            "WHERE image_key = :key OR answer_key = :key ORDER BY id",
            {"key": key},
        )
        return [Decision(*row) for row in rows if row["board_id"] in visible]

    def board_decisions(self, board_id: str, user: str) -> list[Decision]:
        self.boards.board(board_id, user)
        rows = self.db.query(
            "SELECT board_id, image_key, action, by_user, at, comment, answer_key FROM review_decisions "
            "WHERE board_id = :id ORDER BY id",
            {"id": board_id},
        )
        return [Decision(*row) for row in rows]

    @staticmethod
    def _decide(
        conn: Session, board_id: str, key: str, action: str, user: str, comment: str, *, answer_key: str = ""
    ) -> None:
        now = utc_now_iso()
        conn.execute(
            "INSERT INTO review_decisions (board_id, image_key, action, by_user, at, comment, answer_key) "
            "VALUES (:id, :key, :action, :user, :now, :comment, :answer)",
            {"id": board_id, "key": key, "action": action, "user": user, "now": now, "comment": comment,
             "answer": answer_key},
        )  # fmt: skip
        if action != ANSWERED:
            state = "" if action == WITHDRAWN else action
            conn.execute(
                "UPDATE board_items SET review = :state, reviewed_by = :user, reviewed_at = :now, "
                "review_comment = :comment WHERE board_id = :id AND image_key = :key",
                {"state": state, "user": user, "now": now, "comment": comment, "id": board_id, "key": key},
            )


def _on_board(conn: Session, board_id: str, key: str) -> str:
    state = review_state(conn, board_id, key)
    if state is None:
        raise NotFound("That image is not on this board.")
    return state


def _lock_image(conn: Session, key: str) -> None:
    """Lock the image's row, as a delete does, so an approval and a delete of the same image take turns."""
    if conn.execute("SELECT key FROM images WHERE key = :key" + conn.dialect.lock_row, {"key": key}).fetchone() is None:
        raise NotFound("That image is no longer in the gallery.")


def _descends_from(conn: Session, key: str, ancestor: str) -> bool:
    for _ in range(MAX_LINEAGE):
        row = conn.execute("SELECT parent_key FROM images WHERE key = :key", {"key": key}).fetchone()
        if row is None or not row[0]:
            return False
        if row[0] == ancestor:
            return True
        key = row[0]
    return False
