"""The published contract of POST /v1/responses as far as the writing Director uses it, as the fake server
enforces it: from the installed SDK's `openai/types/responses/response_create_params.py` and
`response.py`, and the `CreateResponse` schema of OpenAI's OpenAPI description. Written out here, not read
from the studio, so that a request the API would refuse fails a test. Each refusal is (status, error body)."""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

from tests.fakes.images_contract import Refusal

#: the text models the fake serves (a subset of the SDK's ChatModel literal)
TEXT_MODELS = {"gpt-5.4-mini", "gpt-5.4-nano", "gpt-5.5", "gpt-6-luna", "gpt-6-sol"}
PARAMS = {
    "model", "input", "instructions", "max_output_tokens", "text", "store", "stream", "temperature", "top_p",
    "metadata", "safety_identifier", "user", "reasoning", "truncation", "parallel_tool_calls", "tools",
    "tool_choice", "previous_response_id", "include", "background", "prompt_cache_key", "service_tier",
}  # fmt: skip
MIN_OUTPUT_TOKENS = 16
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
    limit = body.get("max_output_tokens")
    if limit is not None and (type(limit) is not int or limit < MIN_OUTPUT_TOKENS):
        raise Refusal(400, f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
                      f"{MIN_OUTPUT_TOKENS}, but got {limit} instead.", param="max_output_tokens",
                      code="integer_below_min_value")  # fmt: skip
    _check_format((body.get("text") or {}).get("format"))


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
    raw = body["input"] if isinstance(body["input"], str) else json.dumps(body["input"])
    try:
        return str(json.loads(raw)["user_text"])
    except (ValueError, KeyError, TypeError):
        return raw


def written(body: dict[str, Any]) -> str:
    """The fake model's structured answer: the user's words first, then one keyword per facet the
    instructions list, each recorded as an addition."""
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
    spent_in = math.ceil(len((body.get("instructions") or "") + json.dumps(body["input"])) / 4)
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
