"""An answer as it arrives: capped as it is read, kept on disk byte for byte before the SDK sees it, and read
back whole, or not at all, by reconcile."""

from __future__ import annotations

import base64
import io
import json

import httpx2
import pytest
from PIL import Image

from imagegen.providers.answers import AnswerRefused, AnswerTap, read_answer
from imagegen.providers.openai_images import OpenAIImages
from imagegen.request import Usage

BODY = json.dumps({"created": 1, "data": [{"b64_json": "QUJD"}]}).encode()


def tap_answering(body: bytes, *, status: int = 200, headers: dict | None = None, chunk: int = 7) -> AnswerTap:
    seen: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        parts = [body[i : i + chunk] for i in range(0, len(body), chunk)]
        return httpx2.Response(status, headers=headers or {"content-type": "application/json"}, content=iter(parts))

    tap = AnswerTap(httpx2.MockTransport(answer))
    tap.seen = seen
    return tap


def fetch(tap: AnswerTap) -> bytes:
    with httpx2.Client(transport=tap) as client:
        return client.post("http://provider.test/v1/images/generations", json={}).read()


def test_an_expected_answer_is_written_as_it_came_with_its_status_and_type(tmp_path):
    tap = tap_answering(BODY)
    path = tmp_path / "spool" / "r1" / "answer.raw"
    with tap.expecting(path, 10_000) as expectation:
        assert fetch(tap) == BODY
    assert read_answer(path) == (200, "application/json", BODY)
    assert path.read_bytes() == b'{"status": 200, "content_type": "application/json"}\n' + BODY
    assert expectation.received == len(BODY) and expectation.refused == ""
    assert 0 <= expectation.last_byte_to_written_s <= expectation.last_byte_to_durable_s < 60
    assert path.stat().st_mode & 0o777 == 0o600  # an answer is the team's paid image: nobody else reads it
    assert tap.seen[0].headers["accept-encoding"] == "identity"


def test_each_answer_replaces_the_one_before_it(tmp_path):
    path = tmp_path / "answer.raw"
    first, second = tap_answering(b'{"error": "slow down"}', status=429), tap_answering(BODY)
    with first.expecting(path, 10_000):
        fetch(first)
    with second.expecting(path, 10_000):
        fetch(second)
    assert read_answer(path) == (200, "application/json", BODY)


def test_an_answer_over_its_cap_is_cut_off_where_the_cap_is_passed(tmp_path):
    tap = tap_answering(b"x" * 100, chunk=10)
    path = tmp_path / "answer.raw"
    with tap.expecting(path, 35) as expectation, pytest.raises(AnswerRefused, match="larger than") as refused:
        fetch(tap)
    assert str(refused.value.request.url) == "http://provider.test/v1/images/generations"
    assert expectation.received == 40  # the chunk that passed the cap was the last one read
    assert expectation.refused == "the provider's answer is larger than 0 MiB"
    assert read_answer(path)[2] == b"x" * 30  # nothing past the cap was kept
    with tap.expecting(None, 100):
        assert fetch(tap) == b"x" * 100  # exactly at the cap is fine


def test_a_compressed_answer_is_refused_before_it_is_read(tmp_path):
    tap = tap_answering(BODY, headers={"content-type": "application/json", "content-encoding": "gzip"})
    with tap.expecting(tmp_path / "answer.raw", 10_000) as expectation, pytest.raises(AnswerRefused):
        fetch(tap)
    assert expectation.refused == "the provider compressed its answer (gzip) though asked not to"
    assert not (tmp_path / "answer.raw").exists()


def test_outside_a_render_answers_pass_untouched(tmp_path):
    tap = tap_answering(b"y" * 50, headers={"content-type": "text/plain", "content-encoding": "identity"})
    assert fetch(tap) == b"y" * 50
    assert "accept-encoding" not in tap.seen[0].headers or tap.seen[0].headers["accept-encoding"] != "identity"
    with tap.expecting(None, 10) as expectation, pytest.raises(AnswerRefused):
        fetch(tap)  # counted even where nothing is written
    assert expectation.received > 10
    assert fetch(tap) == b"y" * 50  # the expectation ended with its block


def png(size=(8, 8)) -> str:
    out = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def kept(tmp_path, content_type: str, body: bytes, status: int = 200):
    path = tmp_path / "answer.raw"
    path.write_bytes(json.dumps({"status": status, "content_type": content_type}).encode() + b"\n" + body)
    return path


USAGE = {"input_tokens": 30, "input_tokens_details": {"text_tokens": 10, "image_tokens": 20}, "output_tokens": 400}


def test_a_kept_json_answer_is_read_back_with_its_usage_and_revised_prompts(tmp_path):
    body = json.dumps({"data": [{"b64_json": png(), "revised_prompt": "a fox, at dusk"}, {"b64_json": png()}],
                       "usage": USAGE}).encode()  # fmt: skip
    output = OpenAIImages(client=None).recover_answer(kept(tmp_path, "application/json", body))
    assert [image.data for image in output.images] == [base64.b64decode(png())] * 2
    assert [image.revised_prompt for image in output.images] == ["a fox, at dusk", None]
    assert output.usage == Usage(10, 20, 400)


def test_a_kept_stream_is_read_back_from_its_completed_events(tmp_path):
    def event(kind: str, **fields) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()

    body = (
        event("image_generation.partial_image", b64_json=png((2, 2)), partial_image_index=0)
        + event("image_generation.completed", b64_json=png(), usage=USAGE)
        + event("image_generation.completed", b64_json=png(), usage=USAGE)
    )
    provider = OpenAIImages(client=None)
    output = provider.recover_answer(kept(tmp_path, "text/event-stream; charset=utf-8", body))
    assert [image.data for image in output.images] == [base64.b64decode(png())] * 2
    assert output.usage == Usage(20, 40, 800)
    assert provider.recover_answer(kept(tmp_path, "text/event-stream", body[:-1])) is None  # its last event cut
    assert provider.recover_answer(kept(tmp_path, "text/event-stream", body[: len(body) // 2])) is None
    partials_only = event("image_generation.partial_image", b64_json=png(), partial_image_index=0)
    assert provider.recover_answer(kept(tmp_path, "text/event-stream", partials_only)) is None


@pytest.mark.parametrize(
    "status,body",
    [
        (429, b'{"error": {"message": "slow down"}}'),
        (200, b'{"data": [{"b64_json": "QUJD'),  # cut short
        (200, b'{"data": [{"b64_json": "not base64!"}]}'),
        (200, b'{"no_data": []}'),
    ],
)
def test_a_kept_answer_that_is_no_whole_success_reads_as_none(tmp_path, status, body):
    assert OpenAIImages(client=None).recover_answer(kept(tmp_path, "application/json", body, status)) is None


def test_a_missing_answer_file_reads_as_none(tmp_path):
    assert OpenAIImages(client=None).recover_answer(tmp_path / "absent.raw") is None


def test_an_empty_answer_or_one_without_a_type_is_kept_as_it_came(tmp_path):
    path = tmp_path / "answer.raw"
    tap = tap_answering(b"", headers={"x-no-type": "1"})
    with tap.expecting(path, 100) as expectation:
        assert fetch(tap) == b""
    assert path.read_bytes() == b'{"status": 200, "content_type": ""}\n'
    assert expectation.received == 0 and expectation.last_byte_to_written_s == 0.0


def test_an_empty_encoding_is_no_compression_and_a_long_one_is_named_in_twenty_characters(tmp_path):
    plain = tap_answering(BODY, headers={"content-type": "application/json", "content-encoding": ""})
    with plain.expecting(tmp_path / "a.raw", 10_000):
        assert fetch(plain) == BODY
    odd = tap_answering(BODY, headers={"content-type": "application/json", "content-encoding": "x" * 30})
    with odd.expecting(tmp_path / "b.raw", 10_000) as expectation, pytest.raises(AnswerRefused) as refused:
        fetch(odd)
    assert expectation.refused == f"the provider compressed its answer ({'x' * 20}) though asked not to"
    assert str(refused.value) == expectation.refused
    assert str(refused.value.request.url) == "http://provider.test/v1/images/generations"
