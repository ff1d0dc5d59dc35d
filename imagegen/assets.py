"""The rules of the two kinds of asset beside pictures, read from models.toml: an animation (GIF, a few
frames) and a vector logo or icon (SVG, written by a text model from a reference image). What the API
accepts for each, and what each adds to a request's price."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from imagegen.errors import InvalidRequest
from imagegen.request import GenerationRequest, Usage
from imagegen.text_models import TextModel, text_models_in

MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class SvgRules:
    efforts: tuple[str, ...]
    #: the text models that may write an SVG, by id (see text_models.py)
    authors: dict[str, TextModel]
    input_tokens_usual: int
    input_tokens_max: int
    output_tokens_usual: int
    output_tokens_max: int

    def author(self, request: GenerationRequest) -> TextModel:
        """The author a request names, or for the account's default author the dearest one listed."""
        if request.svg_author:
            return self.authors[request.svg_author]
        return max(self.authors.values(), key=lambda a: (a.text_out, a.text_in))

    def usual_cost(self, request: GenerationRequest, prompt_tokens: int) -> Decimal:
        rates = self.author(request)
        tokens_in = self.input_tokens_usual + prompt_tokens
        return (tokens_in * rates.text_in + self.output_tokens_usual * rates.text_out) / MILLION

    def max_cost(self, request: GenerationRequest, prompt_bytes: int) -> Decimal:
        rates = self.author(request)
        tokens_in = self.input_tokens_max + prompt_bytes
        return (tokens_in * rates.text_in + self.output_tokens_max * rates.text_out) / MILLION

    def charge(self, request: GenerationRequest, usage: Usage) -> Decimal:
        """The author's tokens as `svg_usage` reported them, at the rates of the author it names."""
        rates = self.authors.get(usage.svg_model) or self.author(request)
        return (usage.svg_input_tokens * rates.text_in + usage.svg_output_tokens * rates.text_out) / MILLION


@dataclass(frozen=True)
class GifRules:
    frames_min: int
    frames_max: int
    frames_default: int
    frame_ms_default: int
    frame_ms_max: int

    def frames(self, request: GenerationRequest) -> int:
        return request.frame_count or self.frames_default


def check_asset(request: GenerationRequest, formats: tuple[str, ...], svg: SvgRules, gif: GifRules) -> None:
    """Refuse, with what to change, what the API refuses for the request's kind of asset (its model's formats
    are checked by the catalog)."""
    if request.output_format != "gif" and (request.frame_count is not None or request.frame_duration_ms is not None):
        raise InvalidRequest("Frames and their timing apply to an animation (gif) only.")
    if request.output_format != "svg" and (request.svg_author or request.svg_effort):
        raise InvalidRequest("An SVG author and its effort apply to a vector logo or icon (svg) only.")
    if request.output_format == "gif":
        _check_gif(request, gif)
    elif request.output_format == "svg":
        _check_svg(request, svg)
    if request.output_format in ("gif", "svg"):
        if request.compression is not None:
            raise InvalidRequest(f"Compression applies to jpeg and webp only, not to {request.output_format}.")
        if request.background == "transparent":
            raise InvalidRequest(
                "A transparent background is asked for with png or webp output; a vector logo has no backdrop of "
                "its own, so leave the background on auto."
            )


def _check_gif(request: GenerationRequest, gif: GifRules) -> None:
    frames = request.frame_count
    if frames is not None and (not isinstance(frames, int) or not gif.frames_min <= frames <= gif.frames_max):
        raise InvalidRequest(f"An animation has {gif.frames_min} to {gif.frames_max} frames, not {frames}.")
    duration = request.frame_duration_ms
    if duration is not None and (not isinstance(duration, int) or not 10 <= duration <= gif.frame_ms_max):
        raise InvalidRequest(f"A frame lasts 10 to {gif.frame_ms_max:,} ms, not {duration}.")
    if request.mask:
        raise InvalidRequest("An animation cannot be made with a mask: paint no mask, or make a picture.")


def _check_svg(request: GenerationRequest, svg: SvgRules) -> None:
    if request.n != 1:
        raise InvalidRequest(f"A vector logo or icon is made one at a time (n = 1), not {request.n}.")
    if request.svg_author and request.svg_author not in svg.authors:
        raise InvalidRequest(f"Unknown SVG author {request.svg_author!r}: choose one of {', '.join(svg.authors)}.")
    if request.svg_effort and request.svg_effort not in svg.efforts:
        raise InvalidRequest(f"SVG effort {request.svg_effort!r} is not one of {', '.join(svg.efforts)}.")


def load_rules(data: dict[str, Any]) -> tuple[SvgRules, GifRules]:
    raw_svg, raw_gif = data["svg"], data["gif"]
    models = text_models_in(data)
    authors = {name: models[name] for name in raw_svg["authors"]}
    svg = SvgRules(
        efforts=tuple(raw_svg["efforts"]),
        authors=authors,
        **{
            k: int(raw_svg[k])
            for k in ("input_tokens_usual", "input_tokens_max", "output_tokens_usual", "output_tokens_max")
        },
    )
    return svg, GifRules(**{k: int(v) for k, v in raw_gif.items()})


def prompt_tokens(prompt: str) -> int:
    return math.ceil(len(prompt) / 4)
