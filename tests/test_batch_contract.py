"""The fake's Files and Batch APIs through the installed SDK: what the real API refuses is refused with its
status and body, and a batch of image requests is created, polled and read back as the SDK's types say,
whichever way the test makes it end (completed, partial, failed, expired, late, cancelled)."""

from __future__ import annotations

import base64
import io
import json

import openai
import pytest
from PIL import Image


@pytest.fixture
def client(fake_openai):
    return openai.OpenAI(api_key="sk-test", base_url=fake_openai.base_url, max_retries=0)


def request_lines(*prompts: str, url: str = "/v1/images/generations", **body) -> bytes:
    lines = [{"custom_id": f"item-{i}", "method": "POST", "url": url,
              "body": {"model": "gpt-image-2", "prompt": p, "size": "1024x1024", "quality": "low", **body}}
             for i, p in enumerate(prompts)]  # fmt: skip
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def upload(client, data: bytes, name: str = "run.jsonl", purpose: str = "batch"):
    return client.files.create(file=(name, io.BytesIO(data)), purpose=purpose)


def until_ended(client, batch_id: str, looks: int = 6):
    for _ in range(looks):
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
    return batch


def lines_of(client, file_id: str | None) -> dict[str, dict]:
    if file_id is None:
        return {}
    text = client.files.content(file_id).text
    return {entry["custom_id"]: entry for entry in map(json.loads, text.splitlines())}


def test_a_batch_of_image_requests_is_created_polled_and_read_back_as_the_sdk_types_say(client):
    source = upload(client, request_lines("a red fox", "a blue bird"))
    assert source.purpose == "batch" and source.filename == "run.jsonl" and source.bytes > 0
    batch = client.batches.create(input_file_id=source.id, endpoint="/v1/images/generations",
                                  completion_window="24h", metadata={"run": "abc"})  # fmt: skip
    assert batch.status == "validating" and batch.request_counts.total == 2 and batch.metadata == {"run": "abc"}
    assert client.batches.retrieve(batch.id).status == "in_progress"
    ended = until_ended(client, batch.id)
    assert ended.status == "completed" and ended.request_counts.completed == 2 and ended.error_file_id is None
    answers = lines_of(client, ended.output_file_id)
    assert set(answers) == {"item-0", "item-1"}
    body = answers["item-0"]["response"]["body"]
    assert answers["item-0"]["response"]["status_code"] == 200 and body["usage"]["output_tokens"] > 0
    assert Image.open(io.BytesIO(base64.b64decode(body["data"][0]["b64_json"]))).size == (1024, 1024)
    assert client.files.retrieve(ended.output_file_id).purpose == "batch_output"


def test_a_partial_batch_reports_each_failed_line_in_its_error_file(client, fake_openai):
    fake_openai.batches.outcome = "partial"
    source = upload(client, request_lines("a", "b", "c", "d", "e", "f"))
    batch = client.batches.create(input_file_id=source.id, endpoint="/v1/images/generations", completion_window="24h")
    ended = until_ended(client, batch.id)
    assert ended.status == "completed" and (ended.request_counts.completed, ended.request_counts.failed) == (4, 2)
    failed = lines_of(client, ended.error_file_id)
    assert set(failed) == {"item-2", "item-5"}
    assert failed["item-2"]["response"]["status_code"] == 400
    assert failed["item-2"]["response"]["body"]["error"]["code"] == "moderation_blocked"


def test_a_line_the_endpoint_refuses_fails_alone_with_the_endpoints_error(client):
    data = request_lines("fine") + request_lines("too big", size="4096x4096").replace(b"item-0", b"item-9")
    batch = client.batches.create(input_file_id=upload(client, data).id, endpoint="/v1/images/generations",
                                  completion_window="24h")  # fmt: skip
    ended = until_ended(client, batch.id)
    assert (ended.request_counts.completed, ended.request_counts.failed) == (1, 1)
    refused = lines_of(client, ended.error_file_id)["item-9"]["response"]
    assert refused["status_code"] == 400 and refused["body"]["error"]["param"] == "size"


@pytest.mark.parametrize("outcome", ["expired", "late", "failed"])
def test_a_batch_that_expires_is_late_or_fails_says_so(client, fake_openai, outcome):
    fake_openai.batches.outcome = outcome
    source = upload(client, request_lines("a", "b", "c", "d"))
    batch = client.batches.create(input_file_id=source.id, endpoint="/v1/images/generations", completion_window="24h")
    ended = until_ended(client, batch.id)
    if outcome == "late":
        assert ended.status == "in_progress" and ended.output_file_id is None
        fake_openai.batches.release.set()
        assert client.batches.retrieve(batch.id).status == "completed"
    elif outcome == "expired":
        assert ended.status == "expired" and ended.expired_at is not None
        assert (ended.request_counts.completed, ended.request_counts.failed) == (2, 2)
        unanswered = lines_of(client, ended.error_file_id)
        assert {e["error"]["code"] for e in unanswered.values()} == {"batch_expired"}
    else:
        assert ended.status == "failed" and ended.errors.data and ended.output_file_id is None


def test_a_cancelled_batch_ends_cancelled_and_an_ended_one_cannot_be(client, fake_openai):
    fake_openai.batches.outcome = "late"
    batch = client.batches.create(input_file_id=upload(client, request_lines("a", "b")).id,
                                  endpoint="/v1/images/generations", completion_window="24h")  # fmt: skip
    assert client.batches.cancel(batch.id).status == "cancelling"
    ended = until_ended(client, batch.id)
    assert ended.status == "cancelled" and ended.request_counts.failed == 2
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(batch.id)


@pytest.mark.parametrize(
    ("call", "error", "param"),
    [
        (lambda c: upload(c, request_lines("a"), purpose="pictures"), openai.BadRequestError, "purpose"),
        (lambda c: upload(c, request_lines("a"), name="run.txt"), openai.BadRequestError, "file"),
        (lambda c: upload(c, b"not json\n"), openai.BadRequestError, "file"),
        (lambda c: upload(c, request_lines("a") * 2), openai.BadRequestError, "file"),  # a custom_id twice
        (lambda c: c.batches.create(input_file_id=upload(c, request_lines("a")).id, endpoint="/v1/images/generations",
                                    completion_window="48h"), openai.BadRequestError, "completion_window"),
        (lambda c: c.batches.create(input_file_id=upload(c, request_lines("a")).id, endpoint="/v1/images/variations",
                                    completion_window="24h"), openai.BadRequestError, "endpoint"),
        (lambda c: c.batches.create(input_file_id="file-nope", endpoint="/v1/images/generations",
                                    completion_window="24h"), openai.NotFoundError, "id"),
        (lambda c: c.batches.create(input_file_id=upload(c, b"{}", name="x.png", purpose="vision").id,
                                    endpoint="/v1/images/generations", completion_window="24h"),
         openai.BadRequestError, "input_file_id"),
        (lambda c: c.batches.retrieve("batch_nope"), openai.NotFoundError, "batch_id"),
    ],
)  # fmt: skip
def test_what_the_files_and_batch_apis_refuse_is_refused_with_their_status_and_body(client, call, error, param):
    with pytest.raises(error) as refused:
        call(client)
    assert refused.value.body["param"] == param and refused.value.body["message"]


def test_a_batch_whose_lines_are_for_another_endpoint_fails_validation_naming_the_lines(client):
    batch = client.batches.create(input_file_id=upload(client, request_lines("a", url="/v1/images/edits")).id,
                                  endpoint="/v1/images/generations", completion_window="24h")  # fmt: skip
    ended = until_ended(client, batch.id)
    assert ended.status == "failed" and [e.line for e in ended.errors.data] == [1]


def test_the_files_and_batch_apis_ask_for_the_key(fake_openai):
    stranger = openai.OpenAI(api_key="sk-wrong", base_url=fake_openai.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        upload(stranger, request_lines("a"))
