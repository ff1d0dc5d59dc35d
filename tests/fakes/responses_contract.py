"""The published contract of POST /v1/responses as far as the writing Director uses it, as the fake server
enforces it: from the installed SDK's `openai/types/responses/response_create_params.py` and
`response.py`, and the `CreateResponse` schema of OpenAI's OpenAPI description. Written out here, not read
from the studio, so that a request the API would refuse fails a test. Each refusal is (status, error body)."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import time
from typing import Any

from PIL import Image, ImageStat

from tests.fakes.images_contract import Refusal

#: the text models the fake serves (a subset of the SDK's ChatModel literal)
TEXT_MODELS = {"gpt-5.4-mini", "gpt-5.4-nano", "gpt-5.5", "gpt-6-luna", "gpt-6-sol"}
PARAMS = {
    "model", "input", "instructions", "max_output_tokens", "text", "store", "stream", "temperature", "top_p",
    "metadata", "safety_identifier", "user", "reasoning", "truncation", "parallel_tool_calls", "tools",
    "tool_choice", "previous_response_id", "include", "background", "prompt_cache_key", "service_tier",
    "stream_options",
}  # fmt: skip
ROLES = {"user", "assistant", "system", "developer"}
DETAILS = {"low", "high", "auto", "original"}
_DATA_URL = re.compile(r"data:image/(png|jpeg|webp|gif);base64,[A-Za-z0-9+/=]+")
#: what one image read at low detail counts as input tokens here (published counts run from 85 to about 630)
LOW_DETAIL_TOKENS = 280
MIN_OUTPUT_TOKENS = 16
#: characters in each streamed text delta: a few tokens at a time, as a model streams
DELTA_CHARS = 24
_SCHEMA_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def check(body: dict[str, Any]) -> None:
    """Raise the API's refusal for a body it would refuse; return for one it serves."""
    for name in body:
        if name not in PARAMS:
            raise Refusal(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")
    model = body.get("model")
    if not model:
        raise Refusal(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    if model not in TEXT_MODELS:
        raise Refusal(404, f"The model `{model}` does not exist or you do not have access to it.", param="model",
                      code="model_not_found")  # fmt: skip
    if not isinstance(body.get("input"), (str, list)) or not body["input"]:
        raise Refusal(400, "Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
    if isinstance(body["input"], list):
        _check_messages(body["input"])
    if "stream" in body and type(body["stream"]) is not bool:
        raise Refusal(400, "Invalid type for 'stream': expected a boolean.", param="stream", code="invalid_type")
    limit = body.get("max_output_tokens")
    if limit is not None and (type(limit) is not int or limit < MIN_OUTPUT_TOKENS):
        raise Refusal(400, f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
                      f"{MIN_OUTPUT_TOKENS}, but got {limit} instead.", param="max_output_tokens",
                      code="integer_below_min_value")  # fmt: skip
    _check_format((body.get("text") or {}).get("format"))


def _check_messages(messages: list[Any]) -> None:
    """Input as messages (EasyInputMessageParam): a role, and text or a list of input_text / input_image parts."""
    for at, message in enumerate(messages):
        where = f"input[{at}]"
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise Refusal(400, f"Invalid value for '{where}.role'.", param=f"{where}.role", code="invalid_value")
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list) or not content:
            raise Refusal(400, f"Missing required parameter: '{where}.content'.", param=f"{where}.content",
                          code="missing_required_parameter")  # fmt: skip
        for index, part in enumerate(content):
            _check_part(part, f"{where}.content[{index}]")


def _check_part(part: Any, where: str) -> None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "input_text":
        if not isinstance(part.get("text"), str):
            raise Refusal(400, f"Missing required parameter: '{where}.text'.", param=f"{where}.text",
                          code="missing_required_parameter")  # fmt: skip
        return
    if kind != "input_image":
        raise Refusal(400, f"Invalid value for '{where}.type'.", param=f"{where}.type", code="invalid_value")
    if part.get("detail") not in DETAILS:
        raise Refusal(400, f"Missing required parameter: '{where}.detail'.", param=f"{where}.detail",
                      code="missing_required_parameter")  # fmt: skip
    url = part.get("image_url")
    if not part.get("file_id") and not (
        isinstance(url, str) and (_DATA_URL.fullmatch(url) or url.startswith("https://"))
    ):
        raise Refusal(400, f"Invalid '{where}.image_url': expected a URL or a base64-encoded image in a data URL.",
                      param=f"{where}.image_url", code="invalid_image_url")  # fmt: skip
    if url and url.startswith("data:"):
        try:
            with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
                image.verify()
        except Exception:  # Pillow raises many kinds for broken data
            raise Refusal(400, "The image data you provided does not represent a valid image.",
                          param=f"{where}.image_url", code="invalid_image_format") from None  # fmt: skip


def images_in(body: dict[str, Any]) -> list[bytes]:
    """The images a request's messages carry as data URLs, decoded."""
    found = []
    for message in body["input"] if isinstance(body["input"], list) else []:
        for part in message.get("content") if isinstance(message.get("content"), list) else []:
            if part.get("type") == "input_image" and str(part.get("image_url", "")).startswith("data:"):
                found.append(base64.b64decode(part["image_url"].split(",", 1)[1]))
    return found


def _check_format(fmt: Any) -> None:
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_schema", "json_object"):
        raise Refusal(400, "Invalid value for 'text.format.type'.", param="text.format.type", code="invalid_value")
    if fmt["type"] != "json_schema":
        return
    if not isinstance(fmt.get("name"), str) or not _SCHEMA_NAME.fullmatch(fmt["name"]):
        raise Refusal(400, "Missing required parameter: 'text.format.name'.", param="text.format.name",
                      code="missing_required_parameter")  # fmt: skip
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise Refusal(400, "Missing required parameter: 'text.format.schema'.", param="text.format.schema",
                      code="missing_required_parameter")  # fmt: skip
    if fmt.get("strict") and not _strict_ok(schema):
        raise Refusal(400, "Invalid schema for response_format 'rewrite': In context=(), 'additionalProperties' is "
                      "required to be supplied and to be false, and 'required' must list every property.",
                      param="text.format.schema", code="invalid_json_schema")  # fmt: skip


def _strict_ok(schema: dict[str, Any]) -> bool:
    """Strict structured outputs: every object closed, with every property required, all the way down."""
    if schema.get("type") == "object":
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False or set(schema.get("required", [])) != set(properties):
            return False
        return all(_strict_ok(p) for p in properties.values())
    if schema.get("type") == "array":
        return _strict_ok(schema.get("items", {}))
    return True


def user_text(body: dict[str, Any]) -> str:
    """What the fake 'model' reads: the user_text of a JSON input (the studio's data), or the input itself."""
    texts = [
        part["text"] for message in (body["input"] if isinstance(body["input"], list) else [])
        for part in (message.get("content") if isinstance(message.get("content"), list) else [])
        if part.get("type") == "input_text"
    ]  # fmt: skip
    raw = body["input"] if isinstance(body["input"], str) else (texts[0] if texts else "")
    try:
        return str(json.loads(raw)["user_text"])
    except (ValueError, KeyError, TypeError):
        return raw


def written(body: dict[str, Any]) -> str:
    """The fake model's structured answer: for an image, what its pixels are (size and mean colour); for
    words, the user's words first, then one keyword per facet the instructions list, each an addition."""
    seen = images_in(body)
    if seen:
        with Image.open(io.BytesIO(seen[0])) as image:
            red, green, blue = (round(c) for c in ImageStat.Stat(image.convert("RGB")).mean)
            described = f"a {image.width}x{image.height} picture, mostly #{red:02x}{green:02x}{blue:02x}"
        additions = [{"facet": "style", "text": f"mostly #{red:02x}{green:02x}{blue:02x}"}]
        return json.dumps({"prompt": described, "additions": additions, "reason": "Described what it shows."})
    keywords = re.search(r"Keywords to draw on: (.*?)\.\n", (body.get("instructions") or "") + "\n")
    additions = []
    for part in keywords.group(1).split("; ") if keywords else []:
        facet, _, words = part.partition(": ")
        if words:
            additions.append({"facet": facet, "text": words.split(", ")[0]})
    prompt = ", ".join([user_text(body), *(a["text"] for a in additions)])
    return json.dumps({"prompt": prompt, "additions": additions, "reason": "Added the preset's main keywords."})


def response(body: dict[str, Any], content: list[dict[str, Any]], *, status: str = "completed") -> dict[str, Any]:
    """A Response object as the API returns it, with usage counted at about 4 characters a token."""
    text = "".join(c.get("text") or c.get("refusal") or "" for c in content)
    read = (body.get("instructions") or "") + (body["input"] if isinstance(body["input"], str) else user_text(body))
    spent_in = math.ceil(len(read) / 4) + LOW_DETAIL_TOKENS * len(images_in(body))
    spent_out = max(1, math.ceil(len(text) / 4))
    answer: dict[str, Any] = {
        "id": f"resp_{int(time.time() * 1000)}",
        "object": "response",
        "created_at": time.time(),
        "status": status,
        "model": body["model"],
        "output": [{"type": "message", "id": "msg_1", "status": status, "role": "assistant", "content": content}],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": spent_in,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": spent_out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": spent_in + spent_out,
        },
    }
    if status == "incomplete":
        answer["incomplete_details"] = {"reason": "max_output_tokens"}
    return answer


def stream_events(body: dict[str, Any], content: list[dict[str, Any]], *, status: str = "completed") -> list[dict]:
    """The server-sent events of a streamed answer, in the API's order: the response created and in
    progress, the message and its part added, the text (or refusal) in small deltas, each part and the item
    done, then `response.completed` (or `response.incomplete`) carrying the whole Response with its usage."""
    whole = response(body, content, status=status)
    begun = {**whole, "status": "in_progress", "output": [], "usage": None}
    item = {**whole["output"][0], "status": "in_progress", "content": []}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": begun},
        {"type": "response.in_progress", "response": begun},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
    ]
    where = {"item_id": item["id"], "output_index": 0}
    for index, part in enumerate(content):
        refusing = part["type"] == "refusal"
        text = part.get("refusal" if refusing else "text") or ""
        empty = (
            {"type": "refusal", "refusal": ""} if refusing else {"type": "output_text", "text": "", "annotations": []}
        )
        events.append({"type": "response.content_part.added", **where, "content_index": index, "part": empty})
        kind = "refusal" if refusing else "output_text"
        extra = {} if refusing else {"logprobs": []}
        for start in range(0, len(text), DELTA_CHARS):
            delta = text[start : start + DELTA_CHARS]
            events.append({"type": f"response.{kind}.delta", **where, "content_index": index, "delta": delta, **extra})
        done = {"refusal": text} if refusing else {"text": text, **extra}
        events.append({"type": f"response.{kind}.done", **where, "content_index": index, **done})
        events.append({"type": "response.content_part.done", **where, "content_index": index, "part": part})
    events.append({"type": "response.output_item.done", "output_index": 0, "item": whole["output"][0]})
    events.append({"type": f"response.{'incomplete' if status == 'incomplete' else 'completed'}", "response": whole})
    return [{**event, "sequence_number": number} for number, event in enumerate(events)]
