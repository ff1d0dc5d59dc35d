"""Boards and review through the studio's face: each role rule tried by a user who should not get through,
review decisions kept with who and when, the zip's manifest against the records, and an approval and a
delete of the same image at once on both databases."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from pathlib import Path

import pytest

from imagegen import Forbidden, GenerationRequest, InvalidRequest, NotFound, Settings, Studio

ADMIN = "alice"


@pytest.fixture
def team(data_dir: Path) -> Studio:
    return Studio(Settings(data_dir=data_dir, provider="offline", offline_delay=0, admins=(ADMIN,), local_user="local"))


def made(studio: Studio, prompt: str, user: str = "ann") -> str:
    return studio.generate(GenerationRequest(prompt), user).image_key


def edit_of(studio: Studio, key: str, change: str, user: str = "ann") -> str:
    edit = studio.prepare_edit([studio.starting_image(key)], parent_key=key)
    return studio.generate(GenerationRequest(change), user, edit=edit).image_key


def board_rows(studio: Studio) -> int:
    return studio._engine.db.query("SELECT COUNT(*) FROM boards")[0][0]


def test_a_private_board_is_its_owners_and_members_alone(team):
    board = team.create_board("Launch icons", "ann", description="the six icons")
    assert board.role == "owner" and board.can("add") and board.can("delete") and not board.can("review")
    with pytest.raises(NotFound, match="private"):
        team.board(board.id, "bob")
    assert [b.id for b in team.boards("bob")] == []
    team.set_board_member(board.id, "ann", "bob", "viewer")
    seen = team.board(board.id, "bob")
    assert seen.role == "viewer" and seen.may == {"view"}
    assert [b.id for b in team.boards(ADMIN)] == [board.id]  # an admin sees every board


def test_a_viewer_cannot_change_a_board_and_an_editor_cannot_manage_it(team):
    keys = [made(team, f"an icon {i}") for i in range(3)]
    board = team.create_board("Icons", "ann", visibility="team")
    with pytest.raises(Forbidden, match="a viewer of this board: only an editor or its owner"):
        team.add_to_board(board.id, "bob", keys)  # everyone in the team views a team board; no more
    team.set_board_member(board.id, "ann", "bob", "editor")
    assert team.add_to_board(board.id, "bob", keys + keys[:1]) == 3
    assert team.add_to_board(board.id, "bob", keys[:1]) == 0  # already there: not twice
    for refused in (
        lambda: team.rename_board(board.id, "bob", "Mine now", ""),
        lambda: team.set_board_visibility(board.id, "bob", "private"),
        lambda: team.set_board_member(board.id, "bob", "carol", "editor"),
        lambda: team.delete_board(board.id, "bob"),
    ):
        with pytest.raises(Forbidden, match="only its owner or an admin"):
            refused()
    with pytest.raises(Forbidden, match="Only an admin"):
        team.set_board_reviewer(board.id, "ann", "bob")  # naming reviewers is an admin's, not the owner's
    with pytest.raises(Forbidden, match="Only an admin"):
        team.set_brand_kit(board.id, "ann")


def test_a_board_keeps_its_order_who_added_each_and_when(team):
    keys = [made(team, f"a hero image {i}") for i in range(4)]
    board = team.create_board("Campaign", "ann")
    team.add_to_board(board.id, "ann", keys[:2])
    team.set_board_member(board.id, "ann", "bob", "editor")
    team.add_to_board(board.id, "bob", keys[2:])
    items = team.board_items(board.id, "ann")
    assert [i["image_key"] for i in items] == keys
    assert [i["added_by"] for i in items] == ["ann", "ann", "bob", "bob"] and items[0]["added_at"]
    assert items[0]["record"]["prompt"] == "a hero image 0"
    team.move_on_board(board.id, "bob", keys[3], -10)
    team.move_on_board(board.id, "bob", keys[0], 1)
    assert [i["image_key"] for i in team.board_items(board.id, "ann")] == [keys[3], keys[1], keys[0], keys[2]]
    with pytest.raises(InvalidRequest, match="changed while you were ordering"):
        team.reorder_board(board.id, "ann", keys[:3])
    team.remove_from_board(board.id, "bob", keys[1])
    assert team.board(board.id, "ann").images == 3


def test_deleting_a_board_never_deletes_its_images_and_a_deleted_image_leaves_every_board(team):
    keys = [made(team, f"a mascot {i}") for i in range(2)]
    board = team.create_board("Mascots", "ann")
    team.add_to_board(board.id, "ann", keys)
    team.delete_image(keys[0], "ann")
    assert [i["image_key"] for i in team.board_items(board.id, "ann")] == [keys[1]]
    team.delete_board(board.id, "ann")
    assert team.image(keys[1])["key"] == keys[1]
    with pytest.raises(NotFound):
        team.board(board.id, "ann")
    assert team._engine.db.query("SELECT COUNT(*) FROM board_items")[0][0] == 0


def test_a_link_to_a_board_made_private_stops_opening_it(team):
    key = made(team, "a lighthouse")
    board = team.create_board("Shared", "ann", visibility="team")
    team.add_to_board(board.id, "ann", [key])
    assert [i["image_key"] for i in team.board_items(board.id, "bob")] == [key]
    assert team.board_zip(board.id, "bob")[0].endswith(".zip")
    team.set_board_visibility(board.id, "ann", "private")
    for stale in (team.board, team.board_items, team.board_zip, team.board_decisions):
        with pytest.raises(NotFound, match="not there, or it is private"):
            stale(board.id, "bob")
    assert team.boards_holding(key, "bob") == [] and team.review_decisions(key, "bob") == []


@pytest.mark.parametrize(
    ("name", "description", "visibility", "says"),
    [
        ("   ", "", "private", "Give the board a name"),
        ("\u200b\u200b", "", "private", "Give the board a name"),
        ("x" * 81, "", "private", "at most 80 characters"),
        ("Icons", "y" * 2001, "private", "at most 2000 characters"),
        ("Icons", "", "public", "private or team"),
    ],
)
def test_a_bad_board_is_refused_and_nothing_is_kept(team, name, description, visibility, says):
    with pytest.raises(InvalidRequest, match=says):
        team.create_board(name, "ann", description=description, visibility=visibility)
    assert board_rows(team) == 0


def test_a_board_name_loses_its_controls_and_a_bad_role_or_unknown_image_is_refused(team):
    board = team.create_board("Icons\x1b[31m\n for  launch", "ann")
    assert board.name == "Icons for launch"
    with pytest.raises(InvalidRequest, match="an editor or a viewer"):
        team.set_board_member(board.id, "ann", "bob", "owner")
    with pytest.raises(NotFound, match="no longer in the gallery"):
        team.add_to_board(board.id, "ann", ["imagegen/users/ann/nothing.png"])
    with pytest.raises(NotFound):
        team.board("../boards", "ann")
    assert team.board(board.id, "ann").images == 0


def test_review_is_a_reviewers_and_an_approved_image_is_kept_until_its_approval_is_withdrawn(team):
    key = made(team, "the approved logo")
    board = team.create_board("Logo", "ann")
    team.set_board_member(board.id, "ann", "bob", "editor")
    team.add_to_board(board.id, "bob", [key])
    with pytest.raises(InvalidRequest, match="Only an image submitted"):
        team.approve(board.id, ADMIN, key)
    team.submit_for_review(board.id, "bob", key, "ready for a look")
    for not_a_reviewer in ("ann", "bob"):  # the owner and an editor are not reviewers
        with pytest.raises(Forbidden, match="reviewer named for this board"):
            team.approve(board.id, not_a_reviewer, key)
    team.set_board_reviewer(board.id, ADMIN, "carol")
    assert team.board(board.id, "carol").can("review")  # a named reviewer sees a private board to review it
    team.approve(board.id, "carol", key, "ship it")
    assert team.approved_among([key, "other"]) == {key}
    assert not team.may_delete(team.image(key), "ann")
    with pytest.raises(Forbidden, match="withdraw the approval"):
        team.delete_image(key, "ann")
    with pytest.raises(Forbidden, match="withdraw the approval"):
        team.delete_image(key, ADMIN)
    with pytest.raises(Forbidden, match="withdraw the approval"):
        team.remove_from_board(board.id, "bob", key)
    with pytest.raises(Forbidden, match="withdraw the approval"):
        team.delete_board(board.id, "ann")
    team.set_board_reviewer(board.id, ADMIN, "dave")
    with pytest.raises(Forbidden, match="Only carol, who approved it, or an admin"):
        team.withdraw_approval(board.id, "dave", key)
    team.withdraw_approval(board.id, "carol", key, "the brand changed")
    assert team.approved_among([key]) == set()
    decisions = team.review_decisions(key, "ann")
    assert [(d.action, d.by, d.comment) for d in decisions] == [
        ("submitted", "bob", "ready for a look"),
        ("approved", "carol", "ship it"),
        ("withdrawn", "carol", "the brand changed"),
    ]
    assert all(d.at for d in decisions)
    team.delete_image(key, "ann")
    with pytest.raises(NotFound):
        team.image(key)


def test_a_change_request_needs_a_comment_and_is_answered_by_an_edit_of_the_image(team):
    key = made(team, "a hero image")
    unrelated = made(team, "something else")
    board = team.create_board("Hero", "ann")
    team.add_to_board(board.id, "ann", [key])
    team.submit_for_review(board.id, "ann", key)
    with pytest.raises(InvalidRequest, match="needs a comment"):
        team.request_changes(board.id, ADMIN, key, "  ")
    team.request_changes(board.id, ADMIN, key, "make it night")
    night = edit_of(team, key, "make it night")
    with pytest.raises(InvalidRequest, match="must be an edit made from this image"):
        team.answer_change_request(board.id, "ann", key, unrelated)
    team.answer_change_request(board.id, "ann", key, night, "darker now")
    items = {i["image_key"]: i for i in team.board_items(board.id, "ann")}
    assert items[key]["review"] == "changes requested" and items[night]["review"] == "submitted"
    answered = [d for d in team.review_decisions(night, "ann") if d.action == "answered"]
    assert [(d.image_key, d.answer_key, d.by) for d in answered] == [(key, night, "ann")]
    team.approve(board.id, ADMIN, night)
    assert team.approved_among([key, night]) == {night}


def test_a_board_downloads_as_its_files_and_a_manifest_that_matches_the_records(team):
    original = made(team, "a red fox in snow")
    child = edit_of(team, original, "add a scarf")
    board = team.create_board("Foxes", "ann", visibility="team")
    team.add_to_board(board.id, "ann", [child, original])
    team.submit_for_review(board.id, "ann", child)
    team.approve(board.id, ADMIN, child)
    name, data = team.board_zip(board.id, "bob")
    assert name == f"imagegen-board-foxes-{board.id}.zip"
    archive = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["board"]["name"] == "Foxes" and manifest["exported_by"] == "bob"
    records = [team.image(child), team.image(original)]
    assert [e["file"] for e in manifest["images"]] == [team.download_name(r) for r in records]
    assert sorted(archive.namelist()) == sorted([team.download_name(r) for r in records] + ["manifest.json"])
    for entry, record in zip(manifest["images"], records, strict=True):
        assert archive.read(entry["file"]) == team.image_bytes(record)
        assert (entry["prompt"], entry["model"], entry["cost_usd"], entry["id"]) == (
            record["prompt"], record["model"], record["cost_usd"], record["id"],
        )  # fmt: skip
    assert [a["key"] for a in manifest["images"][0]["lineage"]] == [original]
    assert manifest["images"][0]["review"] == "approved" and manifest["images"][0]["reviewed_by"] == ADMIN
    assert manifest["images"][1]["review"] == "not submitted" and manifest["images"][1]["lineage"] == []


def test_the_brand_kit_is_one_team_board_and_offers_its_approved_images(team):
    approved, pending = made(team, "the logo"), made(team, "a draft logo")
    kit = team.create_board("Brand", ADMIN)
    with pytest.raises(InvalidRequest, match="visible to the team first"):
        team.set_brand_kit(kit.id, ADMIN)
    team.set_board_visibility(kit.id, ADMIN, "team")
    assert team.set_brand_kit(kit.id, ADMIN).brand_kit
    team.add_to_board(kit.id, ADMIN, [pending, approved])
    team.submit_for_review(kit.id, ADMIN, approved)
    team.approve(kit.id, ADMIN, approved)
    assert [r["key"] for r in team.brand_references("bob")] == [approved]
    with pytest.raises(InvalidRequest, match="unmark it as the brand kit"):
        team.set_board_visibility(kit.id, ADMIN, "private")
    other = team.create_board("Brand 2026", ADMIN, visibility="team")
    team.set_brand_kit(other.id, ADMIN)
    assert team.brand_kit("bob").id == other.id and not team.board(kit.id, "bob").brand_kit
    assert [b.id for b in team.boards("bob")][0] == other.id  # the brand kit comes first


def test_an_approval_and_a_delete_at_once_never_leave_a_deleted_image_approved(db_settings):
    studio = Studio(Settings(**{**db_settings.__dict__, "admins": (ADMIN,), "daily_quota": 50}))
    for round_ in range(6):
        key = made(studio, f"a race {round_}")
        board = studio.create_board(f"Race {round_}", "ann")
        studio.add_to_board(board.id, "ann", [key])
        studio.submit_for_review(board.id, "ann", key)
        outcomes: dict[str, str] = {}
        start = threading.Barrier(2)

        def approve() -> None:
            start.wait()
            try:
                studio.approve(board.id, ADMIN, key)
                outcomes["approve"] = "done"
            except NotFound:
                outcomes["approve"] = "gone"

        def delete() -> None:
            start.wait()
            try:
                studio.delete_image(key, "ann")
                outcomes["delete"] = "done"
            except Forbidden:
                outcomes["delete"] = "refused"

        threads = [threading.Thread(target=approve), threading.Thread(target=delete)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes in ({"approve": "done", "delete": "refused"}, {"approve": "gone", "delete": "done"})
        rows = studio._engine.db.query("SELECT COUNT(*) FROM board_items WHERE image_key = :k", {"k": key})[0][0]
        assert rows == (1 if outcomes["approve"] == "done" else 0)


def test_the_brand_kits_notes_and_colours_reach_the_writer_and_a_change_of_them_writes_anew(data_dir):
    from tests.test_rewriting import CountingWriter

    writer = CountingWriter()
    studio = Studio(Settings(data_dir=data_dir, offline_delay=0, admins=(ADMIN,)), writer=writer)
    studio.rewrite("a mug", "photo", "ann")
    assert "brand kit" not in writer.jobs[-1].instructions
    kit = studio.create_board("Brand", ADMIN, description="Flat shapes, soft shadows, no gradients", visibility="team")
    studio.set_brand_kit(kit.id, ADMIN)
    studio.set_palette("#1d3557 #e63946", by=ADMIN)
    studio.rewrite("a mug", "photo", "ann")
    told = writer.jobs[-1].instructions
    assert "Flat shapes, soft shadows, no gradients" in told and "#1d3557, #e63946" in told
    assert writer.jobs[-1].user_input == '{"user_text": "a mug"}'  # the kit is instructions, the words stay data
    studio.rewrite("a mug", "photo", "bob")
    assert writer.calls == 2  # the same words under the same kit: kept
    studio.rename_board(kit.id, ADMIN, "Brand", "Flat shapes, hard shadows")
    studio.rewrite("a mug", "photo", "ann")
    assert writer.calls == 3 and "hard shadows" in writer.jobs[-1].instructions
