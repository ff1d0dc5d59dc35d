"""The Boards page and the board pieces of the Gallery through Streamlit's AppTest: each person is shown only
what their role allows, and what they do lands on the board with who and when."""

from __future__ import annotations

import pytest

from imagegen import GenerationRequest, Settings, Studio
from tests.test_pages import app, signed_in, texts


@pytest.fixture
def team_env(env):
    env.setenv("IMAGEGEN_AUTH", "oidc")
    env.setenv("IMAGEGEN_ADMINS", "boss@example.com")
    env.setenv("IMAGEGEN_DAILY_QUOTA", "20")
    return env


def boards_page(user: str):
    at = app(user=signed_in(user))
    at.switch_page("pages/boards.py").run()
    assert not at.exception
    return at


def labels(at) -> set[str]:
    return {b.label for b in at.button} | {t.label for t in at.toggle} | {e.label for e in at.expander}


def test_a_board_is_made_from_the_page_and_opens_with_its_link_and_zip(team_env):
    at = boards_page("ann@example.com")
    assert "No boards yet" in texts(at)
    form_name = next(t for t in at.text_input if t.label == "Name")
    form_name.input("Launch **icons** <b>")
    next(r for r in at.radio if r.label == "Who can see it").set_value("team")
    next(b for b in at.button if b.label == "Create the board").click().run()
    assert not at.exception
    studio = Studio(Settings.from_env())
    [board] = studio.boards("ann@example.com")
    assert board.name == "Launch **icons** <b>" and board.visibility == "team"
    assert at.query_params["board"] == [board.id] or at.query_params["board"] == board.id
    assert "Launch \\*\\*icons\\*\\* \\<b\\>" in [h.value for h in at.header]  # the name shown inert
    assert "No images on this board yet" in texts(at)
    assert "Manage: name, who can see it, members, reviewers" in labels(at)


def test_a_viewer_sees_the_board_but_none_of_its_editing_and_a_private_link_says_so(team_env):
    studio = Studio(Settings.from_env())
    key = studio.generate(GenerationRequest("a team icon"), "ann@example.com").image_key
    shared = studio.create_board("Shared icons", "ann@example.com", visibility="team")
    studio.add_to_board(shared.id, "ann@example.com", [key])
    private = studio.create_board("Ann's drafts", "ann@example.com")
    at = boards_page("bob@example.com")
    assert "a team icon" in texts(at) and "added by ann@example.com" in texts(at)
    seen = labels(at)
    assert not seen & {"Earlier", "Later", "Take off the board", "Submit for review", "Approve"}
    assert "Manage: name, who can see it, members, reviewers" not in seen
    [opener] = [p for p in at.get("page_link") if p.proto.label == "Open in the gallery"]
    assert f"image={studio.link_for(key)}" in opener.proto.query_string  # the short link, not the storage key
    at.query_params["board"] = private.id
    at.session_state["arrived"] = True
    at.run()
    assert "That board is not there, or it is private" in texts(at)
    assert "Ann's drafts" not in texts(at)


def test_an_image_is_added_from_the_gallery_reviewed_on_the_board_and_marked_approved_everywhere(team_env):
    studio = Studio(Settings.from_env())
    key = studio.generate(GenerationRequest("the launch hero"), "ann@example.com").image_key
    board = studio.create_board("Launch", "ann@example.com", visibility="team")
    gallery = app(user=signed_in("ann@example.com"))
    gallery.switch_page("pages/gallery.py").run()
    gallery.session_state["gallery_open"] = key
    gallery.run()
    next(b for b in gallery.button if b.label == "Add").click().run()
    assert "Added to Launch\\." in [t.value for t in gallery.toast]
    owner = boards_page("ann@example.com")
    next(b for b in owner.button if b.label == "Submit for review").click().run()
    assert "Waiting for review" in texts(owner)
    assert "Approve" not in labels(owner)  # the owner is not a reviewer
    boss = boards_page("boss@example.com")
    next(b for b in boss.button if b.label == "Approve").click().run()
    assert "✓ Approved by boss@example.com" in texts(boss)
    assert "Take off the board" not in labels(boss) and "Withdraw approval" in labels(boss)
    [item] = studio.board_items(board.id, "ann@example.com")
    assert (item["added_by"], item["review"], item["reviewed_by"]) == (
        "ann@example.com",
        "approved",
        "boss@example.com",
    )
    gallery.switch_page("pages/gallery.py").run()
    assert any("✓ approved" in c.value for c in gallery.caption)
    gallery.session_state["gallery_open"] = key
    gallery.run()
    assert "Delete..." not in labels(gallery)  # an approved image offers no delete until it is withdrawn
    assert "Approved by boss@example.com" in texts(gallery)


def test_an_edit_offers_the_brand_kits_approved_images_first_as_references(env):
    from ui.editor import EditSource

    studio = Studio(Settings.from_env())  # local sign-in: ann, an admin
    logo, draft, photo = (
        studio.generate(GenerationRequest(p), "ann").image_key for p in ("the logo", "a draft", "a mug")
    )
    kit = studio.create_board("Brand", "ann", visibility="team")
    studio.set_brand_kit(kit.id, "ann")
    studio.add_to_board(kit.id, "ann", [logo, draft])
    studio.submit_for_review(kit.id, "ann", logo)
    studio.approve(kit.id, "ann", logo)
    at = app()
    at.session_state["g_edit"] = EditSource(studio.starting_image(photo), "a mug", parent_key=photo)
    at.run()
    assert "**From the brand kit** (approved images)" in texts(at)
    offered = [b for b in at.button if b.label == "Use as a reference"]
    assert [b.help for b in offered] == ["the logo"]  # the approved one only, not the draft
    offered[0].click().run()
    assert not at.exception
    assert "With 1 reference image chosen from the gallery." in texts(at)
    assert not [b for b in at.button if b.label == "Use as a reference"]  # not offered twice


def test_a_long_board_shows_its_first_tiles_and_the_rest_on_asking(team_env):
    team_env.setenv("IMAGEGEN_DAILY_QUOTA", "30")
    studio = Studio(Settings.from_env())
    keys = [studio.generate(GenerationRequest(f"icon {i:02d}"), "ann@example.com").image_key for i in range(26)]
    board = studio.create_board("Many", "ann@example.com")
    studio.add_to_board(board.id, "ann@example.com", keys)
    at = boards_page("ann@example.com")

    def tiles() -> int:
        return sum(m.value.startswith("icon ") for m in at.markdown)

    assert tiles() == 24
    more = next(b for b in at.button if b.label.startswith("Show more"))
    assert more.label == "Show more (2 left)"
    more.click().run()
    assert tiles() == 26 and not [b for b in at.button if b.label.startswith("Show more")]
