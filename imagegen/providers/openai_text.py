"""The writing Director through OpenAI's Responses API and the official SDK: the rewriter's instructions as
`instructions`, the user's words as JSON data in `input`, a strict JSON-schema answer, `max_output_tokens`
as the bound of what it may write. Nothing is stored at OpenAI (`store` false)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai

from imagegen.errors import ProviderError, ProviderTimeout, ProviderUnavailable, RateLimited
from imagegen.providers.openai_images import _error_message
from imagegen.rewriter import ANSWER_SCHEMA
from imagegen.rewriting import WriteJob, Written
from imagegen.settings import Settings
from imagegen.text_models import TextModel, text_model


class OpenAIWriter:
    def __init__(self, client: openai.OpenAI, model: TextModel) -> None:
        self.client = client
        self.model = model

    def write(self, job: WriteJob, on_delta: Callable[[str], None] | None = None) -> Written:
        """The answer, streamed through `on_delta` as it is written when a listener is given."""
        try:
            answer = self.client.responses.create(
                model=self.model.id,
                instructions=job.instructions,
                input=job.user_input if not job.image else _with_image(job),
                max_output_tokens=job.max_output_tokens,
                store=False,
                text={"format": {"type": "json_schema", "name": "rewrite", "schema": ANSWER_SCHEMA, "strict": True}},
                stream=on_delta is not None,
            )
        except openai.APIError as exc:
            raise text_error(exc) from exc
        try:
            response = answer if on_delta is None else _streamed(answer, on_delta)
        except openai.APIConnectionError as exc:  # mid-answer: what was written may be billed
            raise WriterBrokeOff(BROKE_OFF) from exc
        spent_in, spent_out = _usage(response.usage)
        refusal = _refusal(response)
        problem = ""
        if refusal:
            problem = f"The writer declined to rewrite this prompt ({refusal[:200]}). Your text is kept."
        elif response.status == "incomplete":
            problem = "The rewrite was cut off before it was whole. Your text is kept."
        return Written(response.output_text, spent_in, spent_out, problem)


def _with_image(job: WriteJob) -> list[dict[str, Any]]:
    """The user's words and an image, as one user message: the image at low detail (a bounded cost)."""
    return [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": job.user_input},
                {"type": "input_image", "image_url": job.image, "detail": "low"},
            ],
        }
    ]


def _streamed(events: Any, on_delta: Callable[[str], None]) -> Any:
    """The finished Response of a stream of events, each piece of text passed on as it comes. A stream that
    breaks off (an `error` event, or no final event) may still be billed for what was written."""
    for event in events:
        if event.type == "response.output_text.delta":
            on_delta(event.delta)
        elif event.type in ("response.completed", "response.incomplete"):
            return event.response
        elif event.type in ("error", "response.failed"):
            break
    raise WriterBrokeOff(BROKE_OFF)


BROKE_OFF = "The writing service broke off mid-answer; it may still bill what it wrote. Your text is kept."


class WriterBrokeOff(ProviderError):
    code = "writer_broke_off"
    charged = True


def _usage(usage: Any) -> tuple[int, int]:
    """Input and output tokens; the output's count includes its reasoning tokens."""
    if usage is None:
        return 0, 0
    return int(getattr(usage, "input_tokens", 0) or 0), int(getattr(usage, "output_tokens", 0) or 0)


def _refusal(response: Any) -> str:
    for item in response.output or []:
        for content in getattr(item, "content", None) or []:
            if getattr(content, "type", "") == "refusal":
                return str(content.refusal)
    return ""


def text_error(exc: openai.APIError) -> ProviderError:
    """The SDK's errors as the engine's: a refusal to serve (rate limit, server error, credentials) was not
    billed; a timeout may have been."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeout("The writing service did not answer in time; it may still bill the request.")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderUnavailable("Could not reach the writing service. You were not charged; try again shortly.")
    if isinstance(exc, openai.RateLimitError):
        return RateLimited("The writing service is rate limiting us. You were not charged; wait a minute and retry.")
    return ProviderUnavailable(
        f"The writing service refused the request ({_error_message(exc)}). You were not charged."
    )


def make_openai_writer(settings: Settings, client: openai.OpenAI) -> OpenAIWriter:
    return OpenAIWriter(client, text_model(settings.rewrite_model))
