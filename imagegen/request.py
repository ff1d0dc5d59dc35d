"""What a user asks for, and what they get back."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

FORMATS = ("png", "jpeg", "webp", "gif", "svg")
#: the raster formats a picture comes in; gif is an animation, svg a vector logo or icon
PICTURE_FORMATS = ("png", "jpeg", "webp")
BACKGROUNDS = ("auto", "opaque", "transparent")
CONTENT_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "svg": "image/svg+xml",
}
#: the kinds of asset, and the kind each output format makes
ASSETS = ("picture", "vector", "animation")
KINDS = {"png": "picture", "jpeg": "picture", "webp": "picture", "gif": "animation", "svg": "vector"}


#: what begins the request id of an item of a run of many (see runs.py)
RUN_PREFIX = "run-"


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    #: the Director's preset; "" for the first one of the kind of asset (Photo for a picture)
    preset: str = ""
    model: str = ""
    size: str = ""
    quality: str = ""
    n: int = 1
    output_format: str = "png"
    background: str = ""
    compression: int | None = None
    raw: bool = False
    #: ask the Director for the team's colours (the palette an admin set), when there is one
    team_colours: bool = False
    lighting: str = ""
    camera: str = ""
    #: an edit: the gallery image it starts from (if any), the content digests of the images it sends (the
    #: starting image first, then references) and of its mask or markup, and the input fidelity asked for
    edit_of: str = ""
    inputs: tuple[str, ...] = ()
    mask: str = ""
    markup: str = ""
    input_fidelity: str = ""
    #: an animation's frames and each frame's delay (None: the API's defaults, 9 and 200 ms)
    frame_count: int | None = None
    frame_duration_ms: int | None = None
    #: the model that writes an SVG and its reasoning effort ("": the account's default author)
    svg_author: str = ""
    svg_effort: str = ""
    #: the writing Director's rewrite the prompt came from (its key among the team's kept rewrites), or ""
    rewrite: str = ""
    request_id: str = field(default_factory=new_request_id)

    @property
    def is_edit(self) -> bool:
        return bool(self.inputs)

    @property
    def kind(self) -> str:
        return KINDS.get(self.output_format, "picture")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_stable_id(self, user: str, nonce: str) -> GenerationRequest:
        """The same form, by the same user, in the same round gets the same id: a double click or a
        resubmitted form finds the first request instead of paying twice."""
        fields = {k: v for k, v in asdict(self).items() if k != "request_id"}
        digest = hashlib.sha256(json.dumps([user, nonce, fields], sort_keys=True).encode()).hexdigest()
        return GenerationRequest.from_dict({**fields, "request_id": digest[:32]})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "inputs" in known:
            known["inputs"] = tuple(known["inputs"] or ())
        return cls(**known)


@dataclass
class Usage:
    input_text_tokens: int = 0
    input_image_tokens: int = 0
    output_tokens: int = 0
    #: an SVG's author, reported apart (`svg_usage`): its model, input tokens, and every token it wrote,
    #: reasoning included
    svg_model: str = ""
    svg_input_tokens: int = 0
    svg_output_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The usage as kept in records: an SVG author's fields only when there was one."""
        return {k: v for k, v in asdict(self).items() if v or not k.startswith("svg_")}

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_text_tokens + other.input_text_tokens,
            self.input_image_tokens + other.input_image_tokens,
            self.output_tokens + other.output_tokens,
            self.svg_model or other.svg_model,
            self.svg_input_tokens + other.svg_input_tokens,
            self.svg_output_tokens + other.svg_output_tokens,
        )


@dataclass
class GenerationResult:
    id: str
    status: str
    user: str
    prompt: str
    directed_prompt: str
    additions: list[str]
    preset: str
    model: str
    size: str
    quality: str
    n: int
    output_format: str
    background: str
    estimated_cost_usd: float
    cost_usd: float
    image_keys: list[str]
    created_at: str
    revised_prompt: str | None = None
    usage: Usage | None = None
    timings_ms: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    pending_upload: bool = False
    provider: str = ""

    @property
    def image_key(self) -> str:
        return self.image_keys[0] if self.image_keys else ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["image_key"] = self.image_key
        data["format"] = self.output_format
        return data
