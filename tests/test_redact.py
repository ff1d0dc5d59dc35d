"""Secrets never reach a message, and text never reaches a spreadsheet as a live formula."""

import pytest

from imagegen.redact import MASK, csv_cell, redact, register_secret


@pytest.mark.parametrize(
    "secret",
    [
        "sk-abcdefgh",  # the shortest OpenAI key shape
        "sk-proj-Ab3_dE-fGhIjKlMnOpQrStUvWxYz0123456789",
        "sk-svcacct-ABCDEFGHIJKLMNOP",
        "AKIAIOSFODNN7EXAMPLE",  # an AWS access key id
        "ASIAY34FZKBOKMUTVV7A",  # a temporary one
    ],
)
def test_a_key_shape_is_masked_wherever_it_stands(secret):
    for text in (secret, f"key {secret}.", f"({secret})", f"x={secret}&y", f"{secret}\nnext"):
        shown = redact(text)
        assert secret not in shown and MASK in shown, text


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.signature",
        "bearer abcdefgh12345678",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        'AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
        "'SecretAccessKey'... secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ],
)
def test_tokens_and_aws_secret_keys_are_masked(text):
    shown = redact(text)
    assert "eyJhbGci" not in shown and "abcdefgh1234" not in shown and "wJalrXUtnFEMI" not in shown
    assert MASK in shown


@pytest.mark.parametrize(
    "text",
    [
        "a red fox in snow",
        "ask-me-anything later",  # "sk-" inside a word is no key
        "sk-short",  # too short to be a key
        "AKIA1234",
        "request 3f9a1c0e5b7d4e2a9c8b7a6f5e4d3c2b failed",  # ids and digests are not secrets
        "",
    ],
)
def test_ordinary_text_is_left_as_it_is(text):
    assert redact(text) == text


def test_a_registered_secret_is_masked_longest_first_and_a_short_one_is_not_registered():
    register_secret("hunter2-secret")
    register_secret("hunter2-secret-and-more")
    register_secret("abc12")  # under six characters: masking it would mangle ordinary words
    register_secret("xyz123")  # six is enough
    shown = redact("one hunter2-secret-and-more two hunter2-secret three abc12 four xyz123")
    assert shown == f"one {MASK} two {MASK} three abc12 four {MASK}"
    register_secret("")
    assert redact("nothing here") == "nothing here"


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_cell_that_starts_like_a_formula_gets_a_leading_quote(cell):
    assert csv_cell(cell) == "'" + cell


@pytest.mark.parametrize("value", ["a fox", " =1", "1-2", "", -5, 3.5, None])
def test_other_cells_are_kept_as_they_are(value):
    assert csv_cell(value) == value


def test_a_secret_that_holds_another_is_masked_whole():
    register_secret("zzzzzz-inner")
    register_secret("aaaa-zzzzzz-inner")  # sorts before the shorter one: only its length puts it first
    assert redact("key aaaa-zzzzzz-inner") == f"key {MASK}"
