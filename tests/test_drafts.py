"""The Generate form each user left is kept, so no setting is lost on a page switch or a reload."""

import json

import pytest

from imagegen import Settings, Studio
from imagegen.drafts import MAX_TEXT

FORM = {
    "prompt": "a lighthouse\nat dusk",
    "preset": "anime",
    "model": "offline",
    "size": "1536x1024",
    "custom_size": "",
    "quality": "low",
    "n": 2,
    "output_format": "webp",
    "background": "opaque",
    "raw": False,
    "lighting": "candlelight",
    "camera": "",
}


@pytest.fixture
def studio(tmp_path):
    return Studio(Settings(data_dir=tmp_path, provider="offline"))


def test_the_form_comes_back_as_it_was_left_for_its_user_only(studio):
    assert studio.remembered_form("ann") == {}
    assert studio.remember_form("ann", FORM) == FORM
    assert studio.remembered_form("ann") == FORM
    assert studio.remembered_form("bob") == {}


def test_a_later_form_replaces_the_earlier(studio):
    studio.remember_form("ann", FORM)
    studio.remember_form("ann", {**FORM, "n": 3, "prompt": "a fox"})
    assert studio.remembered_form("ann")["n"] == 3 and studio.remembered_form("ann")["prompt"] == "a fox"


@pytest.mark.parametrize(
    "field,value",
    [
        ("n", True),
        ("n", "2"),
        ("n", 2.0),
        ("raw", 1),
        ("size", 1024),
        ("prompt", None),
        ("prompt", "x" * (MAX_TEXT + 1)),
    ],
)
def test_a_field_of_the_wrong_type_or_size_is_not_kept(studio, field, value):
    kept = studio.remember_form("ann", {**FORM, field: value})
    assert field not in kept and field not in studio.remembered_form("ann")
    assert kept == {k: v for k, v in FORM.items() if k != field}


def test_unknown_fields_are_never_stored(studio):
    studio.remember_form("ann", {**FORM, "api_key": "sk-secret", "user": "admin"})
    stored = studio._engine.db.query("SELECT form FROM form_drafts WHERE user = 'ann'")[0]["form"]
    assert "sk-secret" not in stored and set(json.loads(stored)) == set(FORM)


def test_a_damaged_draft_reads_as_none(studio):
    studio.remember_form("ann", FORM)
    with studio._engine.db.write() as conn:
        conn.execute("UPDATE form_drafts SET form = '{not json' WHERE user = 'ann'")
    assert studio.remembered_form("ann") == {}


def test_an_edits_instruction_is_kept_apart_from_the_new_images_prompt(studio):
    studio.remember_form("ann", {"prompt": "a castle", "edit_prompt": "make it night", "edit_of": "k1"})
    assert studio.remembered_form("ann") == {"prompt": "a castle", "edit_prompt": "make it night", "edit_of": "k1"}
    studio.remember_form("ann", {"prompt": "a castle"})  # the edit was stopped: nothing of it comes back
    assert studio.remembered_form("ann") == {"prompt": "a castle"}
