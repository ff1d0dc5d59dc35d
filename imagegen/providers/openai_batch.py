"""A run sent through OpenAI's Batch API: its image requests written as one JSONL file (each line the same
body a direct call sends), uploaded with purpose `batch`, made a batch with the 24h window, then polled; when
it has ended its output and error files are read back line by line into each request's answer."""

from __future__ import annotations

import io
import json
import logging
from typing import TYPE_CHECKING, Any

import openai

from imagegen.errors import BadImage, ContentRejected, ImagegenError, InvalidRequest, ProviderUnavailable
from imagegen.providers.base import AnswerCallback, BatchState, RenderJob, RenderOutput

if TYPE_CHECKING:
    from imagegen.providers.openai_images import OpenAIImages

ENDPOINT = "/v1/images/generations"
WINDOW = "24h"
ENDED = ("completed", "failed", "expired", "cancelled")
#: the metadata key that names the run a batch was made for (found again if the note of it was lost)
RUN_KEY = "imagegen_run"
log = logging.getLogger("imagegen.providers.openai")


def send(images: OpenAIImages, run_id: str, jobs: list[tuple[str, RenderJob]]) -> str:
    """The batch's id: the one already made for this run (a server stopped between making it and noting
    it), or a new one."""
    from imagegen.providers.openai_images import translate_error

    try:
        for batch in images.client.batches.list(limit=100):
            if (batch.metadata or {}).get(RUN_KEY) == run_id:
                return batch.id
        lines = [{"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": images.request_body(job)}
                 for custom_id, job in jobs]  # fmt: skip
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        upload = images.client.files.create(file=(f"imagegen-run-{run_id}.jsonl", io.BytesIO(data)), purpose="batch")
        batch = images.client.batches.create(
            input_file_id=upload.id, endpoint=ENDPOINT, completion_window=WINDOW, metadata={RUN_KEY: run_id}
        )
    except openai.APIError as exc:
        raise translate_error(exc) from exc
    return batch.id


def poll(images: OpenAIImages, batch_id: str, on_answer: AnswerCallback) -> BatchState:
    """Where the batch stands; once it has ended, each request's answer is handed to `on_answer` as its line
    is read (a run's file of answers can be hundreds of megabytes: it is never held whole)."""
    from imagegen.providers.openai_images import translate_error

    try:
        batch = images.client.batches.retrieve(batch_id)
    except openai.NotFoundError as exc:
        raise ProviderUnavailable(f"The image service no longer knows batch {batch_id}.") from exc
    except openai.APIError as exc:
        raise translate_error(exc) from exc
    try:
        if batch.status not in ENDED:
            return BatchState(batch.status, ended=False)
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                with images.client.files.with_streaming_response.content(file_id) as response:
                    for raw in response.iter_lines():
                        if raw.strip():
                            entry = json.loads(raw)
                            on_answer(str(entry.get("custom_id")), _answer(images, entry))
    except openai.APIError as exc:
        raise translate_error(exc) from exc
    return BatchState(batch.status, ended=True)


def _answer(images: OpenAIImages, entry: dict[str, Any]) -> RenderOutput | ImagegenError:
    response = entry.get("response") or {}
    if entry.get("error") or not response:
        return ProviderUnavailable("The batch ended before this request was made. You were not charged.")
    status, body = response.get("status_code"), response.get("body") or {}
    if status == 200:
        try:
            return images.output_of(body)
        except (ValueError, KeyError, TypeError, BadImage) as exc:
            log.warning("a batch answer could not be read (%s)", type(exc).__name__)
            return BadImage("The image service's answer could not be read. It may have been billed.")
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    message = str(error.get("message") or f"status {status}")[:300]
    if error.get("code") in ("content_policy_violation", "moderation_blocked", "content_filter"):
        return ContentRejected("The image service refused this prompt under its content policy. You were not charged.")
    if status == 400:
        return InvalidRequest(f"The image service refused the request: {message}")
    return ProviderUnavailable(f"The image service could not make this image ({message}). You were not charged.")


def cancel(images: OpenAIImages, batch_id: str) -> None:
    """Ask the batch to stop; one that has ended already is left as it is."""
    from imagegen.providers.openai_images import translate_error

    try:
        images.client.batches.cancel(batch_id)
    except openai.ConflictError:
        return
    except openai.APIError as exc:
        raise translate_error(exc) from exc
