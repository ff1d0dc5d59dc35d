"""Putting images on a board from wherever they are shown (a result, the gallery's detail), and the review
mark an image carries everywhere."""

from __future__ import annotations

import streamlit as st

from imagegen import ImagegenError, ReviewDecision, Studio
from ui import widgets


def add_to_board(studio: Studio, user: str, keys: list[str], key: str) -> None:
    """A board to choose (those the user may add to) and an Add button; says what happened."""
    boards = [board for board in studio.boards(user) if board.can("add")]
    if not boards:
        st.caption("Make a board on the Boards page to keep images together.")
        return
    names = {board.id: board.name for board in boards}
    choice, button = st.columns([3, 1], vertical_alignment="bottom")
    board_id = choice.selectbox(
        "Add to a board", list(names), format_func=lambda b: widgets.plain(names[b]), key=f"{key}-board"
    )
    if button.button("Add", key=f"{key}-add", width="stretch", icon=":material/dashboard_customize:"):
        # A toast, not a line under the button: a dialog redrawn on a phone is scrolled back to its top.
        try:
            added = studio.add_to_board(board_id, user, keys)
        except ImagegenError as exc:
            st.toast(widgets.plain(exc.message), icon=":material/error:")
            return
        said = f"Added to {names[board_id]}." if added else f"Already on {names[board_id]}."
        st.toast(widgets.plain(said), icon=":material/check:")


def review_line(decision: ReviewDecision, when: str) -> str:
    """One review decision as people read it: inert."""
    said = f": {decision.comment}" if decision.comment else ""
    answered = " (answered by an edit)" if decision.action == "answered" else ""
    return widgets.plain(f"{decision.action.capitalize()}{answered} by {decision.by}, {when}{said}")
