"""The team's colours: an admin sets them (with their history), and a request can ask the Director for them;
the page's live preview and the text sent carry the same words."""

import pytest

from imagegen import GenerationRequest, InvalidRequest
from imagegen.team import MAX_COLOURS, parse_palette


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("#1D3557, #e63946", ("#1d3557", "#e63946")),
        ("1d3557 e63946;#1d3557", ("#1d3557", "#e63946")),  # without '#', any separator, each once
        ("   ", ()),
    ],
)
def test_colours_are_kept_as_lower_case_hex_in_order_each_once(typed, kept):
    assert parse_palette(typed) == kept


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("#1d3557, red", "'red' is not a colour"),
        ("#12345", "not a colour"),
        ("#1d3557<script>", "not a colour"),
        (" ".join(f"#00000{i}" for i in range(MAX_COLOURS + 1)), f"at most {MAX_COLOURS} colours"),
    ],
)
def test_what_is_not_a_palette_is_refused_saying_why_and_changes_nothing(studio, typed, says):
    studio.set_palette("#1d3557", by="boss")
    with pytest.raises(InvalidRequest, match=says):
        studio.set_palette(typed, by="boss")
    assert studio.palette() == ("#1d3557",) and len(studio.palette_history()) == 1


def test_each_change_is_kept_with_who_when_before_and_after_and_nothing_clears_it(studio):
    studio.set_palette("#1d3557 #e63946", by="boss")
    studio.set_palette("#1d3557 #e63946", by="boss")  # the same again: no change to record
    studio.set_palette("", by="chief")
    assert studio.palette() == ()
    latest, first = studio.palette_history()
    assert (latest.old_value, latest.new_value, latest.set_by) == ("#1d3557 #e63946", "", "chief")
    assert (first.old_value, first.new_value, first.set_by) == (None, "#1d3557 #e63946", "boss")


def test_a_request_that_asks_for_the_team_colours_is_directed_with_them_and_the_preview_agrees(studio):
    studio.set_palette("#1d3557 #e63946", by="boss")
    asked = GenerationRequest("a fox mark", preset="mark", output_format="svg", team_colours=True)
    plan = studio.plan(asked)
    assert "in the team's colours #1d3557, #e63946" in plan.directed.text
    assert "in the team's colours #1d3557, #e63946" in str(studio.browser_plan(asked))
    plain = studio.plan(GenerationRequest("a fox mark", preset="mark", output_format="svg"))
    assert "team's colours" not in plain.directed.text
    result = studio.generate(asked, "ann")
    assert studio.image(result.image_key)["team_colours"] is True and result.directed_prompt == plan.directed.text


def test_asking_for_the_team_colours_when_none_are_set_adds_nothing(studio):
    plan = studio.plan(GenerationRequest("a fox", team_colours=True))
    assert "team's colours" not in plan.directed.text
