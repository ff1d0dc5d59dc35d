"""Hostile input and hostile providers: refused or made inert, never spent on, never leaking a key."""

import base64
import csv
import io
import json
from dataclasses import replace
from datetime import date

import pytest

from imagegen import BadImage, GenerationRequest, InvalidRequest, ProviderUnavailable, Studio
from imagegen.analytics import Analytics
from imagegen.checks import scoped_id
from imagegen.providers.openai_images import MAX_B64_CHARS, OpenAIImages, _b64
from imagegen.redact import csv_cell, redact, register_secret
from tests.conftest import cli_env, run_cli


@pytest.mark.parametrize(
    "size", ["\u00b2x\u00b2", "\uff11\uff10\uff12\uff14x\uff11\uff10\uff12\uff14", "1024x1O24", "x", "1024x"]
)
def test_sizes_take_ascii_digits_only(studio, size):
    with pytest.raises(InvalidRequest):
        studio.plan(GenerationRequest("a fox", size=size))


@pytest.mark.parametrize("size", ["1024 x 1024", "1024X1024", " 1024\u00d71024 "])
def test_sizes_written_as_people_write_them_are_understood(studio, size):
    assert studio.plan(GenerationRequest("a fox", size=size)).request.size == "1024x1024"


def test_control_characters_and_escapes_are_removed_from_the_prompt_with_a_note(studio):
    plan = studio.plan(GenerationRequest("a \x1b[31mred\x1b[0m fox\x00 on\x07 grass\nat dawn"))
    assert plan.request.prompt == "a red fox on grass\nat dawn"
    assert any("control" in w for w in plan.warnings)
    assert "\x1b" not in plan.directed.text and "\x00" not in plan.directed.text


@pytest.mark.parametrize("prompt", ["\u200b\u200b", "\x00\x1b[2J", " \u2060 \t "])
def test_a_prompt_of_nothing_visible_is_refused(studio, prompt):
    with pytest.raises(InvalidRequest, match="Write a prompt"):
        studio.generate(GenerationRequest(prompt), "ann")
    assert studio._engine.db.query("SELECT COUNT(*) FROM generations")[0][0] == 0


@pytest.mark.parametrize(
    ("fields", "user"),
    [
        ({"prompt": None}, "ann"),
        ({"size": 1024}, "ann"),
        ({}, 123),
        ({"compression": "50", "output_format": "webp"}, "ann"),
        ({"compression": 50.5, "output_format": "webp"}, "ann"),
        ({"n": True}, "ann"),
        ({"n": 1.0}, "ann"),
        ({"raw": "yes"}, "ann"),
        ({"request_id": 12345678}, "ann"),
    ],
)
def test_wrong_types_are_invalid_requests_before_anything_is_spent(studio, fields, user):
    with pytest.raises(InvalidRequest):
        studio.generate(GenerationRequest(**{"prompt": "a fox", **fields}), user)
    assert studio._engine.db.query("SELECT COUNT(*) FROM generations")[0][0] == 0


def test_the_cli_never_echoes_escape_bytes(data_dir):
    done = run_cli("generate", "a \x1b]0;pwned\x07fox \x1b[2J", "--user", "ann", env=cli_env(data_dir))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout + done.stderr and "\x07" not in done.stdout


def test_a_provider_error_that_echoes_the_key_never_shows_it(openai_studio, fake_openai, data_dir):
    fake_openai.default = "echo_key"
    with pytest.raises(ProviderUnavailable) as raised:
        openai_studio.generate(GenerationRequest("a fox", model="gpt-image-2", request_id="echo-key-1"), "ann")
    assert "sk-test" not in raised.value.message and "[redacted]" in raised.value.message
    row = openai_studio._engine.ledger.generation(scoped_id("ann", "echo-key-1"))
    assert row["status"] == "refunded" and "sk-test" not in json.dumps(row)
    done = run_cli(
        "generate", "a fox", "--model", "gpt-image-2", "--json",
        env=cli_env(data_dir, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake_openai.base_url),
    )  # fmt: skip
    assert done.returncode != 0 and "sk-test" not in done.stdout + done.stderr


def test_redaction_masks_registered_secrets_and_key_shapes():
    register_secret("hunter2-long-secret")
    text = redact("a hunter2-long-secret b sk-proj-abcdefghijkl c Bearer abc.def.ghi-jkl")
    assert "hunter2" not in text and "sk-proj" not in text and "abc.def" not in text


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_csv_cells_that_look_like_formulas_are_neutralised(cell):
    assert csv_cell(cell).startswith("'")
    assert csv_cell("a fox") == "a fox" and csv_cell(-5) == -5


def test_the_admin_export_and_usage_csv_write_no_live_formula(studio, offline_settings, data_dir):
    studio.generate(GenerationRequest('=HYPERLINK("http://evil","click")'), "@ann")
    export = Analytics(studio._engine.db, offline_settings).export_csv(date(2000, 1, 1), date(2100, 1, 1))
    for row in csv.reader(io.StringIO(export)):
        assert not any(cell.startswith(("=", "+", "@")) for cell in row), row
    done = run_cli("usage", "--csv", env=cli_env(data_dir))
    assert done.returncode == 0 and "'@ann" in done.stdout


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x.png",
        "http://127.0.0.1:22/x.png",
        "http://evil.example/x.png",
        "gopher://127.0.0.1/x",
    ],
)
def test_image_urls_are_fetched_only_over_https_or_from_the_configured_server(openai_settings, url):
    from imagegen.providers.openai_images import make_openai

    provider: OpenAIImages = make_openai(openai_settings)
    with pytest.raises(BadImage, match="not fetched"):
        provider.download(url)


def test_a_redirect_from_the_configured_server_is_not_followed(openai_studio, fake_openai):
    fake_openai.default = "redirect_url"
    with pytest.raises(BadImage, match="302"):
        openai_studio.generate(GenerationRequest("a fox", model="dall-e-3", quality="standard"), "ann")
    assert openai_studio.history().items == []


def test_a_base64_answer_larger_than_the_cap_is_refused_before_decoding():
    with pytest.raises(BadImage, match="64 MiB"):
        _b64("A" * (MAX_B64_CHARS + 4))
    assert _b64(base64.b64encode(b"ok").decode()) == b"ok"


@pytest.mark.parametrize("model", ["gpt-image-2", "dall-e-3"])  # a streamed answer, and a JSON one
def test_an_answer_larger_than_any_image_is_refused_as_it_is_read(openai_settings, fake_openai, model):
    from imagegen.providers.openai_images import OpenAIImages, make_client

    client, sent, tap = make_client(replace(openai_settings, model=""))
    cap = 2 * 1024 * 1024
    studio = Studio(openai_settings, provider=OpenAIImages(client, sent=sent, tap=tap, max_image_b64=cap))
    fake_openai.then("huge")
    fake_openai.huge_bytes = 300 * 1024 * 1024
    quality = "standard" if model == "dall-e-3" else "low"
    with pytest.raises(Exception, match="answer was refused: the provider's answer is larger than") as refused:
        studio.generate(GenerationRequest("a fox", model=model, quality=quality, request_id="huge-answer-1"), "ann")
    # One image of 2 MiB in base64, and two previews when it streams, plus 1 MiB for the rest of the answer.
    cap_mib = 7 if model == "gpt-image-2" else 3
    assert refused.value.message == (
        f"The image service's answer was refused: the provider's answer is larger than {cap_mib} MiB. "
        "You were probably charged."
    )
    assert refused.value.charged
    # Reading stopped at the cap: the server got no further than the cap and what the sockets buffer.
    assert fake_openai.huge_sent < 3 * (cap * 3 + 1024 * 1024) + 16 * 1024 * 1024
    row = studio._engine.ledger.generation(scoped_id("ann", "huge-answer-1"))
    assert row["status"] == "ambiguous" and row["error_code"] == "bad_image"


def test_a_compressed_answer_the_client_did_not_ask_for_is_refused(openai_studio, fake_openai):
    fake_openai.then("gzip")
    with pytest.raises(Exception, match="compressed its answer") as refused:
        openai_studio.generate(GenerationRequest("a fox", model="dall-e-3", quality="standard"), "ann")
    assert refused.value.charged


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prompt": None}, "prompt must be text, not NoneType."),
        ({"size": 1024}, "size must be text, not int."),
        ({"n": 1.0}, "n is a whole number of images, not float."),
        ({"compression": "50", "output_format": "webp"}, "Compression is a whole percentage 0 to 100, not '50'."),
        ({"raw": "yes"}, "raw is true or false."),
        ({"request_id": "short"}, "A request id is 8 to 64 letters, digits, '-' or '_'."),
    ],
)
def test_each_wrong_field_is_named_with_what_it_should_be(studio, fields, message):
    with pytest.raises(InvalidRequest) as refused:
        studio.plan(GenerationRequest(**{"prompt": "a fox", **fields}))
    assert refused.value.message == message


def test_a_request_that_is_no_request_says_so():
    from imagegen.checks import check_request

    with pytest.raises(InvalidRequest) as refused:
        check_request({"prompt": "a fox"})
    assert refused.value.message == "A request is a GenerationRequest."
