"""Boards: named sets of the team's images, each with its owner, members and review. A board's page shows
its images in order with who added each and when, its share link and its zip; each person sees only the
actions their role on the board allows."""

from urllib.parse import quote

import streamlit as st

from imagegen import BOARD_ROLES, BOARD_VISIBILITIES, Board, ImagegenError, alt_text, counted
from ui import runtime, widgets
from ui.copy_link import copy_link
from ui.identity import viewer

COLUMNS = 4
PAGE = 24
REVIEW_MARKS = {
    "submitted": "Waiting for review",
    "approved": "✓ Approved",
    "changes requested": "Changes requested",
}
#: the board open, as the chooser holds it; FORGET asks the next run to let go of a deleted one
CHOSEN, FORGET = "board-choice", "board-forget"
VISIBILITY_LABELS = {"private": "Private: its owner and members", "team": "The team: everyone can see it"}

studio = runtime.studio()
me = viewer()
state = st.session_state

st.title("Boards")


def done(step, *args, said: str = "") -> bool:
    """Run one change; show the engine's refusal as it says it, or `said` when it went through."""
    try:
        step(*args)
    except ImagegenError as exc:
        st.error(widgets.plain(exc.message))
        return False
    if said:
        st.toast(widgets.plain(said))
    return True


def new_board() -> None:
    with st.expander("New board", icon=":material/add:", expanded=not studio.boards(me.name)):
        with st.form("new-board", clear_on_submit=True, border=False):
            name = st.text_input("Name", max_chars=80, placeholder="Launch icons, Spring campaign...")
            description = st.text_area("Description (optional)", max_chars=2000, height=80)
            visibility = st.radio("Who can see it", BOARD_VISIBILITIES, format_func=VISIBILITY_LABELS.get)
            if st.form_submit_button("Create the board", type="primary"):
                try:
                    board = studio.create_board(name, me.name, description=description, visibility=visibility)
                except ImagegenError as exc:
                    st.error(widgets.plain(exc.message))
                else:
                    state[CHOSEN] = board.id


def share_link(board_id: str) -> str:
    base = (st.context.url or "").split("?")[0]
    return f"{base}?board={quote(board_id, safe='')}"


def header(board: Board) -> None:
    kit = " · the team's brand kit" if board.brand_kit else ""
    st.header(widgets.plain(board.name))
    if board.description:
        st.markdown(widgets.plain(board.description))
    st.caption(
        widgets.plain(
            f"{counted(board.images, 'image')} · owned by {board.owner} · "
            f"{'private' if board.visibility == 'private' else 'the team can see it'}{kit} · you: {board.role}"
        )
    )
    link_col, zip_col = st.columns([3, 1], vertical_alignment="center")
    with link_col:
        copy_link(share_link(board.id), label="Link to this board, for a teammate", key="board-link")
    zip_col.download_button(
        "Download as zip", lambda: studio.board_zip(board.id, me.name)[1], file_name=studio.board_zip_name(board), mime="application/zip", key="board-zip", width="stretch",
        disabled=board.images == 0, help="Every image under its download name, with a manifest of each",
    )  # fmt: skip


def manage(board: Board) -> None:
    if not (board.can("rename") or board.can("members") or board.can("brand kit")):
        return
    with st.expander("Manage: name, who can see it, members, reviewers"):
        if board.can("rename"):
            with st.form("board-rename", border=False):
                name = st.text_input("Name", value=board.name, max_chars=80)
                description = st.text_area("Description", value=board.description, max_chars=2000, height=80)
                if st.form_submit_button("Save"):
                    done(studio.rename_board, board.id, me.name, name, description, said="Saved.")
        if board.can("visibility"):
            chosen = st.radio(
                "Who can see it", BOARD_VISIBILITIES, index=BOARD_VISIBILITIES.index(board.visibility),
                format_func=VISIBILITY_LABELS.get, key=f"board-visibility-{board.id}",
            )  # fmt: skip
            if chosen != board.visibility and done(studio.set_board_visibility, board.id, me.name, chosen):
                st.rerun()
        if board.can("members"):
            members(board)
        if board.can("brand kit"):
            kit = st.toggle("The team's brand kit", value=board.brand_kit, key=f"board-kit-{board.id}",
                            help="Its approved images are offered first as references for edits")  # fmt: skip
            if kit != board.brand_kit and done(studio.set_brand_kit, board.id, me.name, kit):
                st.rerun()
        if board.can("delete") and st.toggle("Delete this board...", key=f"board-delete-arm-{board.id}"):
            st.warning("This removes the board and its list. The images stay in the gallery.")
            if st.button("Delete the board", icon=":material/delete:", key="board-delete") and done(
                studio.delete_board, board.id, me.name
            ):
                state[FORGET] = True
                st.query_params.pop("board", None)
                st.rerun()


def members(board: Board) -> None:
    st.markdown("**Members**")
    for member in studio.board_members(board.id, me.name):
        role = member.role or "reviewer only"
        reviewer = " · reviewer" if member.reviewer and member.role else ""
        who, remove = st.columns([4, 1], vertical_alignment="center")
        who.markdown(widgets.plain(f"{member.user}: {role}{reviewer}"))
        removed = member.role and remove.button("Remove", key=f"member-remove-{member.user}", type="tertiary")
        if removed and done(studio.set_board_member, board.id, me.name, member.user, None):
            st.rerun()
    with st.form("board-member", clear_on_submit=True, border=False):
        who, role = st.columns([3, 2])
        name = who.text_input("Add a member (their user name)")
        chosen = role.selectbox("As", BOARD_ROLES)
        reviewer = st.checkbox("And a reviewer of this board", disabled=not board.can("name reviewers"))
        if st.form_submit_button("Add the member") and done(studio.set_board_member, board.id, me.name, name, chosen):
            if reviewer:
                done(studio.set_board_reviewer, board.id, me.name, name, True)
            st.rerun()


def tile(board: Board, item: dict, index: int, count: int) -> None:
    record = item["record"]
    key = item["image_key"]
    shown = studio.image_url(record) or widgets.stored_bytes(studio.thumbnail_bytes, record)
    if shown is not None:
        widgets.picture(shown, width="stretch", alt=alt_text(record))
    st.markdown(widgets.plain(record["prompt"][:80]))
    st.caption(widgets.plain(f"added by {item['added_by']} · {studio.local_time(item['added_at'])}"))
    if item["review"]:
        mark = REVIEW_MARKS.get(item["review"], item["review"])
        by = f" by {item['reviewed_by']}" if item["review"] != "submitted" else ""
        said = f": {item['review_comment']}" if item["review_comment"] and item["review"] != "submitted" else ""
        st.markdown(widgets.plain(f"{mark}{by}{said}"))
    actions(board, item, key, index, count)


def actions(board: Board, item: dict, key: str, index: int, count: int) -> None:
    review = item["review"]
    row = []
    if board.can("reorder") and count > 1:
        row += [("Earlier", ":material/arrow_back:", index > 0, lambda: studio.move_on_board(board.id, me.name, key, -1)),
                ("Later", ":material/arrow_forward:", index < count - 1,
                 lambda: studio.move_on_board(board.id, me.name, key, 1))]  # fmt: skip
    if board.can("submit") and review in ("", "changes requested"):
        row.append(("Submit for review", ":material/rate_review:", True,
                    lambda: studio.submit_for_review(board.id, me.name, key)))  # fmt: skip
    if board.can("review") and review == "submitted":
        row.append(("Approve", ":material/check_circle:", True, lambda: studio.approve(board.id, me.name, key)))
    if board.can("review") and review == "approved":
        row.append(("Withdraw approval", ":material/undo:", True,
                    lambda: studio.withdraw_approval(board.id, me.name, key)))  # fmt: skip
    if board.can("remove") and review != "approved":
        row.append(("Take off the board", ":material/remove:", True,
                    lambda: studio.remove_from_board(board.id, me.name, key)))  # fmt: skip
    for label, icon, enabled, step in row:
        pressed = st.button(label, icon=icon, key=f"{label}-{key}", disabled=not enabled, type="tertiary",
                            help=f"{label}: {record_words(item)}")  # fmt: skip
        if pressed and done(step):
            st.rerun()
    if board.can("review") and review == "submitted":
        with st.popover("Ask for changes", icon=":material/edit_note:"):
            comment = st.text_area("What should change", key=f"changes-{key}", max_chars=2000)
            if st.button("Send", key=f"changes-send-{key}") and done(
                studio.request_changes, board.id, me.name, key, comment
            ):
                st.rerun()
    st.page_link("pages/gallery.py", label="Open in the gallery", icon=":material/photo_library:",
                 query_params={"image": item["link"]})  # fmt: skip


def record_words(item: dict) -> str:
    return widgets.plain(item["record"]["prompt"][:60])


def board_view(board: Board) -> None:
    header(board)
    manage(board)
    shown = state.setdefault(f"board-shown-{board.id}", PAGE)
    items = studio.board_items(board.id, me.name, limit=shown + 1)  # one more: whether there is more
    if not items:
        st.info("No images on this board yet: open one in the Gallery, or a result on Generate, and add it here.")
        return
    count = max(board.images, len(items))
    columns = st.columns(COLUMNS)
    for index, item in enumerate(items[:shown]):
        with columns[index % COLUMNS], st.container(key=f"board-tile-{index}", border=True):
            tile(board, item, index, count)
    if len(items) > shown and st.button(f"Show more ({count - shown} left)"):
        state[f"board-shown-{board.id}"] = shown + PAGE
        st.rerun()


if state.pop(FORGET, False):
    state.pop(CHOSEN, None)
new_board()
boards = studio.boards(me.name)
ids = [board.id for board in boards]
linked = st.query_params.get("board")
if linked and (state.get("arrived") or state.get("board_linked") != linked):
    state["board_linked"] = linked  # a link opens its board when followed, not on every rerun after
    state[CHOSEN] = linked
if state.get(CHOSEN) and state[CHOSEN] not in ids:  # a stale link, or a board made private since
    try:
        studio.board(state[CHOSEN], me.name)
    except ImagegenError as exc:
        st.error(widgets.plain(exc.message))
    state.pop(CHOSEN)
if boards:
    labels = {b.id: ("★ " if b.brand_kit else "") + b.name for b in boards}
    chosen = st.selectbox("Board", ids, format_func=lambda b: widgets.plain(labels[b]), key=CHOSEN)
    st.query_params["board"] = state["board_linked"] = chosen
    board_view(next(b for b in boards if b.id == chosen))
else:
    st.info("No boards yet. A board keeps a set of images together: the icons of a feature, a campaign's heroes.")
