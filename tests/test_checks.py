"""The request and user checks say what is wrong in words a script's author can act on (checks.py)."""

import pytest

from imagegen import GenerationRequest, InvalidRequest
from imagegen.checks import check_request, check_user, scoped_id


def test_a_user_that_is_not_text_or_is_blank_is_told_what_to_give():
    with pytest.raises(InvalidRequest) as not_text:
        check_user(42)
    assert not_text.value.message == "Say who is generating: a user is text."
    with pytest.raises(InvalidRequest) as blank:
        check_user("   ")
    assert blank.value.message == "Say who is generating: a user name is required."
    assert check_user("  ann  ") == "ann"


def test_the_short_fields_are_cleaned_of_control_characters_and_trimmed():
    request = GenerationRequest("a fox", lighting=" golden\x1b[31m hour\x07 ", camera="\tmacro ", preset=" photo ")
    cleaned, notes = check_request(request)
    assert (cleaned.lighting, cleaned.camera, cleaned.preset) == ("golden hour", "macro", "photo")
    assert notes == []  # the prompt itself was clean


def test_a_scoped_id_is_32_hex_characters_that_differ_by_user():
    ann, bob = scoped_id("ann", "request-1"), scoped_id("bob", "request-1")
    assert len(ann) == 32 and int(ann, 16) >= 0 and ann != bob
    assert scoped_id("ann", "request-1") == ann
