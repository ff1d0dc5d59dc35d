"""The published contract of POST /v1/images/generations and /v1/images/edits, as the fake server enforces it.

Taken from the installed SDK's `openai/types/image_generate_params.py` docstrings and the
`CreateImageRequest` schema of OpenAI's OpenAPI description; written out here on purpose, not read from
the studio's catalog, so that a catalog edit the API would refuse fails a test. Each refusal is
(status, error body) as the API answers it.
"""

from __future__ import annotations

import io
import math
from typing import Any

from PIL import Image

STANDARD_SIZES = {"1024x1024", "1536x1024", "1024x1536", "auto"}
FREE_SIZE_MODELS = {
    "gpt-image-2",
    "gpt-image-2-2026-04-21",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.5-sunburst-2026-09-08",
    "gpt-image-2.5-flare",
    "gpt-image-2.5-flare-2026-09-08",
}
XHIGH_MODELS = {m for m in FREE_SIZE_MODELS if m.startswith("gpt-image-2.5")}
GPT_MODELS = FREE_SIZE_MODELS | {
    "gpt-image-1",
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "gpt-image-1.5-2025-12-16",
    "chatgpt-image-latest",
    "gpt-image-2.6-sunburst",
    "gpt-image-2.6-flare",
}
DALLE_SIZES = {"dall-e-2": {"256x256", "512x512", "1024x1024"}, "dall-e-3": {"1024x1024", "1792x1024", "1024x1792"}}
PROMPT_MAX = {"dall-e-2": 1000, "dall-e-3": 4000}
GPT_PARAMS = {
    "prompt", "model", "n", "size", "quality", "background", "moderation", "output_compression", "output_format",
    "partial_images", "stream", "safety_identifier", "user", "complexity", "frame_count", "frame_duration_ms", "svg",
}  # fmt: skip
#: what the SDK documents for an SVG author's reasoning effort
SVG_EFFORTS = {"none", "minimal", "low", "medium", "high", "xhigh", "max"}
DALLE_PARAMS = {
    "dall-e-2": {"prompt", "model", "n", "size", "quality", "response_format", "user"},
    "dall-e-3": {"prompt", "model", "n", "size", "quality", "response_format", "style", "user"},
}
#: image tokens per output image by quality, for 1024x1024 / 1536x1024 (OpenAI's table for GPT image models)
OUTPUT_TOKENS = {"low": (272, 408), "medium": (1056, 1584), "high": (4160, 6240)}


class Refusal(Exception):
    def __init__(self, status: int, message: str, *, param: str | None, code: str | None, kind: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = {
            "error": {"message": message, "type": kind or "invalid_request_error", "param": param, "code": code}
        }


def check(body: dict[str, Any]) -> None:
    """Raise the API's refusal for a body it would refuse; return for one it serves."""
    if "prompt" not in body or body["prompt"] is None:
        raise Refusal(400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
    model = body.get("model") or "gpt-image-1.5"
    if model not in GPT_MODELS and model not in DALLE_SIZES:
        raise Refusal(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            param=None,
            code="model_not_found",
        )
    allowed = GPT_PARAMS if model in GPT_MODELS else DALLE_PARAMS[model]
    for name in body:
        if name not in allowed:
            raise Refusal(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")
    _check_prompt(body["prompt"], PROMPT_MAX.get(model, 32000))
    _check_n(body.get("n", 1), model)
    _check_size(body.get("size") or "auto", model)
    _check_quality(body.get("quality") or "auto", model)
    if model in GPT_MODELS:
        _check_gpt_output(body)


def _check_prompt(prompt: Any, limit: int) -> None:
    if not isinstance(prompt, str):
        raise Refusal(400, "Invalid type for 'prompt': expected a string.", param="prompt", code="invalid_type")
    if len(prompt) > limit:
        raise Refusal(
            400,
            f"Invalid 'prompt': string too long. Expected a string with maximum length {limit}, but got a string "
            f"with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )


def _check_n(n: Any, model: str) -> None:
    if type(n) is not int:
        raise Refusal(
            400,
            f"Invalid type for 'n': expected an integer, but got {type(n).__name__} instead.",
            param="n",
            code="invalid_type",
        )
    if not 1 <= n <= 10:
        code = "integer_above_max_value" if n > 10 else "integer_below_min_value"
        raise Refusal(400, f"Invalid 'n': integer must be between 1 and 10, got {n}.", param="n", code=code)
    if model == "dall-e-3" and n != 1:
        raise Refusal(400, "Invalid 'n': dall-e-3 only supports n=1.", param="n", code="invalid_value")


def _check_size(size: Any, model: str) -> None:
    if model in DALLE_SIZES:
        ok = size in DALLE_SIZES[model] or (size == "auto" and model == "dall-e-2")
    elif model in FREE_SIZE_MODELS and size not in STANDARD_SIZES:
        ok = _free_size_ok(size)
    else:
        ok = size in STANDARD_SIZES
    if not ok:
        raise Refusal(
            400, f"Invalid value: '{size}'. Unsupported size for {model}.", param="size", code="invalid_value"
        )


def _free_size_ok(size: Any) -> bool:
    parts = str(size).split("x")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        return False
    width, height = int(parts[0]), int(parts[1])
    return (
        width % 16 == 0
        and height % 16 == 0
        and min(width, height) >= 256
        and max(width, height) <= 3840
        and width * height <= 3840 * 2160
        and max(width, height) <= 3 * min(width, height)
    )


def _check_quality(quality: Any, model: str) -> None:
    if model == "dall-e-3":
        allowed = {"standard", "hd", "auto"}
    elif model == "dall-e-2":
        allowed = {"standard", "auto"}
    else:
        allowed = {"low", "medium", "high", "auto"} | ({"xhigh", "max"} if model in XHIGH_MODELS else set())
    if quality not in allowed:
        supported = ", ".join(f"'{q}'" for q in sorted(allowed))
        raise Refusal(
            400,
            f"Invalid value: '{quality}'. Supported values are: {supported}.",
            param="quality",
            code="invalid_value",
        )


def _check_gpt_output(body: dict[str, Any]) -> None:
    fmt = body.get("output_format") or "png"
    if fmt not in ("png", "jpeg", "webp", "gif", "svg"):
        raise Refusal(400, f"Invalid value: '{fmt}'.", param="output_format", code="invalid_value")
    if body.get("background") not in (None, "auto", "opaque", "transparent"):
        raise Refusal(400, "Invalid value for 'background'.", param="background", code="invalid_value")
    if body.get("background") == "transparent" and fmt not in ("png", "webp"):
        raise Refusal(
            400,
            f"Transparent background is not supported for the {fmt} output format. Use png or webp.",
            param="background",
            code="invalid_value",
        )
    _check_animation(body, fmt)
    _check_vector(body, fmt)
    compression = body.get("output_compression")
    if compression is not None:
        if fmt not in ("jpeg", "webp"):
            raise Refusal(
                400,
                "output_compression is only supported for the jpeg and webp output formats.",
                param="output_compression",
                code="invalid_value",
            )
        if type(compression) is not int or not 0 <= compression <= 100:
            raise Refusal(
                400, "Invalid 'output_compression': must be 0 to 100.", param="output_compression", code="invalid_value"
            )
    partials = body.get("partial_images")
    if partials is not None and (type(partials) is not int or not 0 <= partials <= 3):
        raise Refusal(
            400, "Invalid 'partial_images': must be between 0 and 3.", param="partial_images", code="invalid_value"
        )
    if body.get("moderation") not in (None, "low", "auto"):
        raise Refusal(400, "Invalid value for 'moderation'.", param="moderation", code="invalid_value")


def _check_animation(body: dict[str, Any], fmt: str) -> None:
    """GIF: frame_count 2-16 and frame_duration_ms with output_format=gif only; no streaming or partials."""
    for name in ("frame_count", "frame_duration_ms"):
        if body.get(name) is not None and fmt != "gif":
            raise Refusal(400, f"'{name}' is only supported with output_format=gif.", param=name, code="invalid_value")
    frames = body.get("frame_count")
    if frames is not None and (type(frames) is not int or not 2 <= frames <= 16):
        code = "integer_above_max_value" if type(frames) is int and frames > 16 else "integer_below_min_value"
        raise Refusal(400, f"Invalid 'frame_count': integer must be between 2 and 16, got {frames}.",
                      param="frame_count", code=code if type(frames) is int else "invalid_type")  # fmt: skip
    duration = body.get("frame_duration_ms")
    if duration is not None and (type(duration) is not int or duration < 0):
        raise Refusal(400, f"Invalid 'frame_duration_ms': expected a non-negative integer, got {duration}.",
                      param="frame_duration_ms", code="invalid_value")  # fmt: skip
    if fmt == "gif":
        _no_streaming(body, fmt)


def _check_vector(body: dict[str, Any], fmt: str) -> None:
    """SVG: n=1; no streaming, partial images or output compression; `svg` (with a `model`) with svg only."""
    svg = body.get("svg")
    if svg is not None and fmt != "svg":
        raise Refusal(400, "'svg' is only supported with output_format=svg.", param="svg", code="invalid_value")
    if fmt != "svg":
        return
    if body.get("n", 1) != 1:
        raise Refusal(400, "Invalid 'n': SVG output requires n=1.", param="n", code="invalid_value")
    _no_streaming(body, fmt)
    if svg is not None:
        if not isinstance(svg, dict) or not isinstance(svg.get("model"), str) or not svg["model"]:
            raise Refusal(400, "Missing required parameter: 'svg.model'.", param="svg.model",
                          code="missing_required_parameter")  # fmt: skip
        effort = (svg.get("reasoning") or {}).get("effort")
        if effort is not None and effort not in SVG_EFFORTS:
            raise Refusal(400, f"Invalid value: '{effort}'.", param="svg.reasoning.effort", code="invalid_value")


def _no_streaming(body: dict[str, Any], fmt: str) -> None:
    if body.get("stream"):
        raise Refusal(
            400, f"Streaming is not supported with output_format={fmt}.", param="stream", code="invalid_value"
        )
    if body.get("partial_images"):
        raise Refusal(400, f"'partial_images' is not supported with output_format={fmt}.", param="partial_images",
                      code="invalid_value")  # fmt: skip


def resolved_quality(quality: str | None) -> str:
    """What the answer echoes: the quality used, never "auto" (the SDK's response type has no "auto")."""
    return "high" if quality in (None, "", "auto") else quality


def resolved_size(size: str | None) -> str:
    return "1024x1024" if size in (None, "", "auto") else size


def usage(prompt: str, quality: str, size: str, n: int) -> dict[str, Any]:
    """What the API reports: about 4 characters a text token, the output tokens of the quality and size."""
    width, height = (int(v) for v in size.split("x"))
    square, other = OUTPUT_TOKENS.get(quality, OUTPUT_TOKENS["high"])
    base, reference = (square, 1024 * 1024) if width == height else (other, 1536 * 1024)
    output = math.ceil(base * width * height / reference) * n
    text = max(1, math.ceil(len(prompt) / 4))
    return {
        "input_tokens": text,
        "input_tokens_details": {"text_tokens": text, "image_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
        "total_tokens": text + output,
    }


# -- POST /v1/images/edits (multipart), from `openai/types/image_edit_params.py` ---------------------------

#: the models the SDK documents for images.edit
EDIT_MODELS = FREE_SIZE_MODELS | {
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "gpt-image-1.5-2025-12-16",
    "chatgpt-image-latest",
    "gpt-image-2.6-sunburst",
    "gpt-image-2.6-flare",
}
MARKUP_MODELS = {m for m in FREE_SIZE_MODELS if m.startswith("gpt-image-2.5")}
FIDELITY = {"gpt-image-1.5": {"high", "low"}, "gpt-image-1.5-2025-12-16": {"high", "low"}, "gpt-image-1-mini": {"low"}}
EDIT_PARAMS = {
    "image", "prompt", "model", "n", "size", "quality", "background", "output_compression", "output_format",
    "partial_images", "stream", "safety_identifier", "user", "complexity", "input_fidelity", "mask", "markup",
    "frame_count", "frame_duration_ms", "svg",
}  # fmt: skip
MAX_EDIT_IMAGES = 16
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_MASK_BYTES = 4 * 1024 * 1024


def check_edit(fields: dict[str, Any], files: dict[str, list[bytes]]) -> None:
    """Raise the API's refusal for an edit it would refuse. `fields` are the form's text fields, already
    typed (numbers as int, "true"/"false" as bool); `files` the uploaded files by field name."""
    images = files.get("image", []) + files.get("image[]", [])
    if not images:
        raise Refusal(400, "Missing required parameter: 'image'.", param="image", code="missing_required_parameter")
    if "prompt" not in fields:
        raise Refusal(400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
    model = fields.get("model") or "gpt-image-1.5"
    if model not in GPT_MODELS and model not in DALLE_SIZES:
        raise Refusal(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            param=None,
            code="model_not_found",
        )
    if model not in EDIT_MODELS:
        raise Refusal(400, f"Invalid value: '{model}'. Image editing is not supported for this model.",
                      param="model", code="invalid_value")  # fmt: skip
    for name in [*fields, *files]:
        if name.split("[")[0] not in EDIT_PARAMS:  # image[], svg[model], svg[reasoning][effort]
            raise Refusal(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")
    if len(images) > MAX_EDIT_IMAGES:
        raise Refusal(400, f"Invalid 'image': array too long. Expected an array with maximum length "
                      f"{MAX_EDIT_IMAGES}, but got an array with length {len(images)} instead.",
                      param="image", code="array_above_max_length")  # fmt: skip
    sizes = [_input_image_size(data, index) for index, data in enumerate(images)]
    if files.get("mask") and files.get("markup"):
        raise Refusal(400, "'markup' cannot be combined with 'mask'.", param="markup", code="invalid_value")
    if files.get("mask"):
        _check_overlay(files["mask"][0], sizes[0], "mask", need_transparent=True)
    if files.get("markup"):
        if model not in MARKUP_MODELS:
            raise Refusal(400, f"'markup' is not supported for model '{model}'.", param="markup", code="invalid_value")
        _check_overlay(files["markup"][0], sizes[0], "markup", need_transparent=True)
    fidelity = fields.get("input_fidelity")
    if fidelity is not None and fidelity not in FIDELITY.get(model, set()):
        raise Refusal(400, f"Invalid value: '{fidelity}'. 'input_fidelity' is not supported for this model.",
                      param="input_fidelity", code="invalid_value")  # fmt: skip
    _check_prompt(fields["prompt"], 32000)
    _check_n(fields.get("n", 1), model)
    _check_size(fields.get("size") or "auto", model)
    _check_quality(fields.get("quality") or "auto", model)
    svg = {"model": fields["svg[model]"]} if "svg[model]" in fields else None
    if svg is not None and "svg[reasoning][effort]" in fields:
        svg["reasoning"] = {"effort": fields["svg[reasoning][effort]"]}
    _check_gpt_output({**{k: v for k, v in fields.items() if not k.startswith("svg[")}, "svg": svg})
    if files.get("mask") and fields.get("output_format") == "gif":
        raise Refusal(400, "'mask' is not supported with output_format=gif.", param="mask", code="invalid_value")


def _input_image_size(data: bytes, index: int) -> tuple[int, int]:
    """An input image's size, refusing what is not a PNG, WebP or JPEG under 50 MB (by content)."""
    if len(data) >= MAX_IMAGE_BYTES:
        raise Refusal(400, f"Invalid 'image[{index}]': file must be less than 50MB.", param="image",
                      code="invalid_image_file")  # fmt: skip
    try:
        with Image.open(io.BytesIO(data)) as picture:
            kind, size = picture.format, picture.size
    except Exception:
        kind, size = None, (0, 0)
    if kind not in ("PNG", "WEBP", "JPEG"):
        raise Refusal(400, f"Invalid image file or mode for image {index + 1}, please check your image file.",
                      param="image", code="invalid_image_file")  # fmt: skip
    return size


def _check_overlay(data: bytes, size: tuple[int, int], name: str, *, need_transparent: bool) -> None:
    limit = "less than 4MB" if name == "mask" else "a PNG"
    if len(data) >= MAX_MASK_BYTES:
        raise Refusal(400, f"Invalid '{name}': file must be {limit}.", param=name, code="invalid_image_file")
    try:
        with Image.open(io.BytesIO(data)) as picture:
            kind, found, alpha = picture.format, picture.size, picture.convert("RGBA").getchannel("A").getextrema()
    except Exception:
        kind, found, alpha = None, (0, 0), (255, 255)
    if kind != "PNG":
        raise Refusal(400, f"Invalid '{name}': it must be a PNG image.", param=name, code="invalid_image_file")
    if found != size:
        raise Refusal(400, f"Invalid '{name}': the {name} must have the same dimensions as the image "
                      f"({size[0]}x{size[1]}), got {found[0]}x{found[1]}.", param=name, code="invalid_value")  # fmt: skip
    if need_transparent and alpha[0] != 0:
        raise Refusal(400, f"Invalid '{name}': it must contain fully transparent pixels.", param=name,
                      code="invalid_value")  # fmt: skip


def input_image_tokens(sizes: list[tuple[int, int]], fidelity: str | None) -> int:
    """Image input tokens as the API reports them: each image fitted in 2048x2048, its short side scaled to
    768, 170 tokens per 512 px tile plus 85; high input fidelity adds the first image in detail."""
    total = 0
    for width, height in sizes:
        scale = min(1.0, 2048 / max(width, height))
        scale *= min(1.0, 768 / (min(width, height) * scale))
        total += 85 + 170 * math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    if sizes and fidelity == "high":
        square, other = OUTPUT_TOKENS["high"]
        total += square if sizes[0][0] == sizes[0][1] else other
    return total
