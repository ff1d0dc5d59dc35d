"""OpenAI, Azure OpenAI and any OpenAI-compatible server, through the official SDK."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2
import openai

from imagegen.edits import EditInputs
from imagegen.errors import (
    BadImage,
    ContentRejected,
    InvalidRequest,
    ModelUnavailable,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from imagegen.providers.answers import AnswerTap, read_answer
from imagegen.providers.base import AnswerCallback, BatchState, PartialCallback, RenderedImage, RenderJob, RenderOutput
from imagegen.redact import register_secret
from imagegen.request import GenerationRequest, Usage
from imagegen.settings import Settings

MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
#: base64 of the largest image accepted, so a huge answer is refused before it is decoded
MAX_B64_CHARS = (MAX_DOWNLOAD_BYTES + 2) // 3 * 4
#: room in an answer for what is not an image: JSON fields, usage, stream event names
ANSWER_OVERHEAD_BYTES = 1024 * 1024
DOWNLOAD_TIMEOUT = 30.0
PARTIAL_IMAGES = 2
ATTEMPTS = 3
MAX_RETRY_DELAY = 20.0
CONTENT_CODES = {"content_policy_violation", "moderation_blocked", "content_filter"}
log = logging.getLogger("imagegen.providers.openai")


class OpenAIImages:
    name = "openai"
    label = "OpenAI Images API"

    def __init__(
        self,
        client: openai.OpenAI,
        *,
        trusted_origin: str = "",
        sent: threading.local | None = None,
        tap: AnswerTap | None = None,
        max_image_b64: int = MAX_B64_CHARS,
    ) -> None:
        self.client = client
        self.trusted_origin = trusted_origin
        #: set by the HTTP client's request hook when a request leaves this machine (see make_client)
        self._sent = sent
        #: caps each answer as it is read and writes it to the job's answer file (see make_client)
        self.tap = tap
        self.max_image_b64 = max_image_b64

    def request_sent(self) -> bool:
        return True if self._sent is None else bool(getattr(self._sent, "value", False))

    def answer_cap(self, job: RenderJob) -> int:
        """The most bytes an answer to this job can need: every image it asks for, and every partial preview
        when streamed, each at the largest image accepted, in base64."""
        images = job.request.n * (1 + (PARTIAL_IMAGES if job.spec.streams_partials else 0))
        return images * self.max_image_b64 + ANSWER_OVERHEAD_BYTES

    def render(self, job: RenderJob, on_partial: PartialCallback) -> RenderOutput:
        if self.tap is None:
            return self._render(job, on_partial)
        with self.tap.expecting(job.answer_path, self.answer_cap(job)) as expectation:
            try:
                return self._render(job, on_partial)
            except (ProviderError, InvalidRequest, ContentRejected):
                if expectation.refused:
                    raise _refused(expectation.refused) from None
                raise
            except httpx2.TransportError:
                if expectation.refused:
                    raise _refused(expectation.refused) from None
                raise

    def _render(self, job: RenderJob, on_partial: PartialCallback) -> RenderOutput:
        if self._sent is not None:
            self._sent.value = False
        params = self._params(job)
        call = self.client.images.edit if job.edit is not None else self.client.images.generate
        for attempt in range(1, ATTEMPTS + 1):
            try:
                if job.spec.streams_partials and job.request.kind == "picture":  # GIF and SVG never stream
                    return self._render_streaming(call, params, on_partial)
                response = call(**params)
                break
            except (openai.RateLimitError, openai.InternalServerError) as exc:
                # The service answered "not now": nothing was rendered or billed, so asking again is safe.
                if attempt == ATTEMPTS:
                    raise translate_error(exc) from exc
                delay = _retry_delay(exc, attempt)
                job.on_retry(attempt + 1, ATTEMPTS, delay, _retry_reason(exc))
                time.sleep(delay)
            except openai.APIError as exc:
                # Timeouts and dropped connections are not retried: the first request may still be billed.
                raise translate_error(exc) from exc
        images = [RenderedImage(self._image_bytes(item), item.revised_prompt) for item in response.data or []]
        return RenderOutput(
            images=images, usage=_with_author(_usage(response.usage), getattr(response, "svg_usage", None))
        )

    def recover_answer(self, path: Path) -> RenderOutput | None:
        """The images and usage of an answer kept on disk as it arrived (see providers/answers.py); None when
        it is no whole, successful answer (the process died while it was arriving, or it was an error)."""
        try:
            status, content_type, body = read_answer(path)
            if status != 200:
                return None
            if content_type.startswith("text/event-stream"):
                return _from_events(body)
            return self.output_of(json.loads(body))
        except (OSError, ValueError, KeyError, TypeError, BadImage) as exc:
            log.warning("the answer kept in %s cannot be read back (%s)", path, type(exc).__name__)
            return None

    def output_of(self, answer: dict[str, Any]) -> RenderOutput:
        """The images and usage of an answer's JSON body (as kept on disk, or a batch's output line)."""
        images = [
            RenderedImage(
                _b64(item["b64_json"]) if item.get("b64_json") else self.download(item["url"]),
                item.get("revised_prompt"),
            )
            for item in answer["data"]
        ]
        usage = _with_author(_usage(_attributes(answer.get("usage"))), _attributes(answer.get("svg_usage")))
        return RenderOutput(images=images, usage=usage)

    # -- the Batch API: a run's requests made within 24 hours (providers/openai_batch.py) ------------

    def batch_send(self, run_id: str, jobs: list[tuple[str, RenderJob]]) -> str:
        from imagegen.providers import openai_batch

        return openai_batch.send(self, run_id, jobs)

    def batch_poll(self, batch_id: str, on_answer: AnswerCallback) -> BatchState:
        from imagegen.providers import openai_batch

        return openai_batch.poll(self, batch_id, on_answer)

    def batch_cancel(self, batch_id: str) -> None:
        from imagegen.providers import openai_batch

        openai_batch.cancel(self, batch_id)

    def request_body(self, job: RenderJob) -> dict[str, Any]:
        """The JSON body a direct call of this job sends (a batch's line carries the same)."""
        return self._params(job)

    def _params(self, job: RenderJob) -> dict[str, Any]:
        request = job.request
        params: dict[str, Any] = {
            "model": request.model,
            "prompt": job.prompt,
            "n": request.n,
            "size": request.size,
            "quality": request.quality,
        }
        if job.spec.family == "gpt-image":
            params["output_format"] = request.output_format
            params["safety_identifier"] = job.user_tag
            if request.background and request.background != "auto":
                params["background"] = request.background
            if request.compression is not None:
                params["output_compression"] = request.compression
            params.update(_asset_params(request))
        else:
            params["user"] = job.user_tag
        if job.edit is not None:
            params.update(_edit_params(job.edit, job.request.input_fidelity))
        return params

    def _render_streaming(self, call: Any, params: dict[str, Any], on_partial: PartialCallback) -> RenderOutput:
        images: list[RenderedImage] = []
        usage = Usage()
        stream = call(**params, stream=True, partial_images=PARTIAL_IMAGES)
        with stream:
            for event in stream:
                if event.type in ("image_generation.partial_image", "image_edit.partial_image"):
                    on_partial(event.partial_image_index, _b64(event.b64_json))
                elif event.type in ("image_generation.completed", "image_edit.completed"):
                    images.append(RenderedImage(_b64(event.b64_json)))
                    usage = usage + (_usage(event.usage) or Usage())
        return RenderOutput(images=images, usage=usage)

    def _image_bytes(self, item: Any) -> bytes:
        if item.b64_json:
            return _b64(item.b64_json)
        if item.url:
            return self.download(item.url)
        raise BadImage("The provider answered without an image. You may have been charged; try again.")

    def download(self, url: str) -> bytes:
        """Fetch a provider URL at once (it expires within the hour): https only, or exactly the configured
        server's own scheme, host and port; redirects are not followed."""
        if not self._allowed(url):
            raise BadImage(
                "The provider's image URL is neither https nor on the configured server; it was not fetched. "
                "You were probably charged."
            )
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(url, timeout=DOWNLOAD_TIMEOUT) as answer:
                content_type = answer.headers.get_content_type()
                if not content_type.startswith("image/"):
                    raise BadImage(f"The provider's image URL returned {content_type}, not an image.")
                data = answer.read(MAX_DOWNLOAD_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise BadImage(
                f"The provider's image URL answered {exc.code}: it may have expired or moved. You were probably "
                "charged."
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise BadImage(
                f"Could not download the image from the provider ({exc}). You were probably charged."
            ) from None
        if len(data) > MAX_DOWNLOAD_BYTES:
            raise BadImage("The provider's image is larger than 64 MiB; refused.")
        return data

    def _allowed(self, url: str) -> bool:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme == "https" and parsed.hostname:
            return True
        return bool(self.trusted_origin) and _origin(url) == self.trusted_origin


def _edit_params(edit: EditInputs, input_fidelity: str) -> dict[str, Any]:
    """The files of an edit, as the SDK sends them (name, bytes, type): one image alone, several as a list;
    the mask or the markup; the input fidelity only where it was asked for (the model takes it then)."""
    files = {item.name: (item.name, item.data, item.content_type) for item in edit.files()}
    images = [files[f"input-{i}.{image.format}"] for i, image in enumerate(edit.images)]
    params: dict[str, Any] = {"image": images[0] if len(images) == 1 else images}
    if "mask.png" in files:
        params["mask"] = files["mask.png"]
    if "markup.png" in files:
        params["markup"] = files["markup.png"]
    if input_fidelity:
        params["input_fidelity"] = input_fidelity
    return params


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is answered as the HTTPError it is, never followed


def _origin(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    try:
        port = parsed.port or {"https": 443, "http": 80}.get(parsed.scheme)
    except ValueError:
        return ""
    return f"{parsed.scheme}://{(parsed.hostname or '').lower()}:{port}"


def translate_error(exc: openai.APIError) -> ProviderError | InvalidRequest | ContentRejected:
    """The SDK's errors as the engine's own, each with what the user can do about it."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeout(
            "The image service did not answer in time. It may still finish and bill the request; "
            "check the gallery before trying again."
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderUnavailable("Could not reach the image service. You were not charged; try again shortly.")
    code = _error_code(exc)
    message = _error_message(exc)
    if isinstance(exc, openai.RateLimitError):
        return RateLimited("The image service is rate limiting us. You were not charged; wait a minute and retry.")
    if code in CONTENT_CODES:
        return ContentRejected(
            "The image service refused this prompt under its content policy. You were not charged; rephrase the prompt."
        )
    if code == "model_not_found" or isinstance(exc, openai.NotFoundError):
        return ModelUnavailable(f"The image service does not offer this model ({message}). Choose another model.")
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return ProviderUnavailable(
            f"The image service refused our credentials ({message}). Ask an admin to check the API key."
        )
    if isinstance(exc, openai.BadRequestError):
        return InvalidRequest(f"The image service refused the request: {message}")
    if isinstance(exc, openai.InternalServerError):
        return ProviderUnavailable("The image service failed on its side. You were not charged; try again shortly.")
    return ProviderUnavailable(f"The image service answered with an error ({message}). Try again shortly.")


def _error_code(exc: openai.APIError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error", body) if isinstance(body.get("error", body), dict) else body
    return str(getattr(exc, "code", None) or inner.get("code") or "")


def _error_message(exc: openai.APIError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error", body) if isinstance(body.get("error", body), dict) else body
    return str(inner.get("message") or exc.message)[:300]


def _retry_reason(exc: openai.APIStatusError) -> str:
    if isinstance(exc, openai.RateLimitError):
        return "the image service is rate limiting us"
    return f"the image service had an error ({exc.status_code})"


def _retry_delay(exc: openai.APIStatusError, attempt: int) -> float:
    headers = exc.response.headers
    try:
        if "retry-after-ms" in headers:
            return min(MAX_RETRY_DELAY, float(headers["retry-after-ms"]) / 1000)
        if "retry-after" in headers:
            return min(MAX_RETRY_DELAY, float(headers["retry-after"]))
    except ValueError:
        pass
    return min(MAX_RETRY_DELAY, 0.5 * 2 ** (attempt - 1))


def _from_events(body: bytes) -> RenderOutput | None:
    """A stream's completed images and their usage; None unless every event came whole."""
    images: list[RenderedImage] = []
    usage = Usage()
    for block in body.split(b"\n\n"):
        lines = [line[5:].strip() for line in block.split(b"\n") if line.startswith(b"data:")]
        if not lines:
            continue
        event = json.loads(b"".join(lines))
        if str(event.get("type", "")).endswith(".completed"):
            images.append(RenderedImage(_b64(event["b64_json"])))
            usage = usage + (_usage(_attributes(event.get("usage"))) or Usage())
    if not body.endswith(b"\n\n"):
        return None  # the last event was cut short
    return RenderOutput(images=images, usage=usage) if images else None


def _attributes(raw: Any) -> Any:
    """JSON objects as objects with attributes, the way the SDK's types read."""
    if isinstance(raw, dict):
        return SimpleNamespace(**{key: _attributes(value) for key, value in raw.items()})
    return raw


def _refused(reason: str) -> BadImage:
    return BadImage(f"The image service's answer was refused: {reason}. You were probably charged.")


def _b64(data: str) -> bytes:
    if not isinstance(data, str) or len(data) > MAX_B64_CHARS:
        raise BadImage("The provider's image is missing or larger than 64 MiB; refused. You may have been charged.")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadImage("The provider's base64 image data is corrupt. You may have been charged; try again.") from None


def _usage(raw: Any) -> Usage | None:
    if raw is None:
        return None
    details = getattr(raw, "input_tokens_details", None)
    return Usage(
        input_text_tokens=int(getattr(details, "text_tokens", 0) or 0),
        input_image_tokens=int(getattr(details, "image_tokens", 0) or 0),
        output_tokens=int(getattr(raw, "output_tokens", 0) or 0),
    )


def _with_author(usage: Usage | None, author: Any) -> Usage | None:
    """The image's usage with an SVG author's, reported apart as `svg_usage`. Whether its `output_tokens`
    already holds the `reasoning_tokens` is not documented: `total_tokens` tells, and without it both count."""
    if author is None:
        return usage
    spent_in, output, reasoning, total = (
        int(getattr(author, name, 0) or 0)
        for name in ("input_tokens", "output_tokens", "reasoning_tokens", "total_tokens")
    )
    written = max(output, total - spent_in) if total else output + reasoning
    model = str(getattr(author, "model", "") or "")
    return replace(usage or Usage(), svg_model=model, svg_input_tokens=spent_in, svg_output_tokens=written)


def _asset_params(request: GenerationRequest) -> dict[str, Any]:
    """An animation's frames and timing; an SVG's author and its effort (omitted: the account's defaults)."""
    params: dict[str, Any] = {}
    if request.frame_count is not None:
        params["frame_count"] = request.frame_count
    if request.frame_duration_ms is not None:
        params["frame_duration_ms"] = request.frame_duration_ms
    if request.svg_author:
        params["svg"] = {"model": request.svg_author}
        if request.svg_effort:
            params["svg"]["reasoning"] = {"effort": request.svg_effort}
    return params


def make_client(settings: Settings, *, azure: bool = False) -> tuple[openai.OpenAI, threading.local, AnswerTap]:
    """The SDK's client, with its own retries off (retried here, only where a retry cannot bill twice) and a
    hook that notes when a request really leaves this machine."""
    sent = threading.local()

    def note_sent(request: Any) -> None:
        sent.value = True

    # The SDK's own HTTP client class, over a transport that caps each answer and keeps it as it arrives.
    tap = AnswerTap(httpx2.HTTPTransport(limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20)))
    http_client = openai.DefaultHttpxClient(
        timeout=settings.provider_timeout, event_hooks={"request": [note_sent]}, transport=tap
    )
    if azure:
        register_secret(settings.azure_api_key)
        client: openai.OpenAI = openai.AzureOpenAI(
            azure_endpoint=settings.azure_endpoint,
            api_key=settings.azure_api_key,
            api_version=settings.openai_api_version or "2025-04-01-preview",
            timeout=settings.provider_timeout,
            max_retries=0,
            http_client=http_client,
        )
    else:
        register_secret(settings.openai_api_key)
        client = openai.OpenAI(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url or None,
            timeout=settings.provider_timeout,
            max_retries=0,
            http_client=http_client,
        )
    return client, sent, tap


def make_openai(settings: Settings) -> OpenAIImages:
    client, sent, tap = make_client(settings)
    return OpenAIImages(
        client,
        trusted_origin=_origin(settings.openai_base_url) if settings.openai_base_url else "",
        sent=sent,
        tap=tap,
    )


def make_azure(settings: Settings) -> OpenAIImages:
    client, sent, tap = make_client(settings, azure=True)
    provider = OpenAIImages(client, trusted_origin=_origin(settings.azure_endpoint), sent=sent, tap=tap)
    provider.name = "azure"
    provider.label = "Azure OpenAI"
    return provider
