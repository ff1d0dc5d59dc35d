"""Models, sizes, qualities, limits, prices and lifecycles, read from models.toml."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from imagegen.assets import GifRules, SvgRules, check_asset, load_rules, prompt_tokens
from imagegen.errors import InvalidRequest
from imagegen.request import GenerationRequest, Usage

CATALOG_FILE = Path(__file__).with_name("models.toml")
MILLION = Decimal(1_000_000)
#: the sizes a form suggests for models that take any size within a rule (plus a custom one)
COMMON_FREE_SIZES = ("1024x1024", "1536x1024", "1024x1536", "1536x864", "864x1536", "2048x2048", "3840x2160", "auto")
STANDARD_SQUARE = 1024 * 1024
STANDARD_OTHER = 1536 * 1024


@dataclass(frozen=True)
class SizeRule:
    multiple: int
    min_edge: int
    max_edge: int
    max_pixels: int
    max_aspect: int
    experimental_above: int
    allow_auto: bool

    def describe(self) -> str:
        return (
            f"any WxH with both sides multiples of {self.multiple}, {self.min_edge} to {self.max_edge} px, "
            f"aspect 1:3 to 3:1, at most {self.max_pixels:,} pixels" + (", or auto" if self.allow_auto else "")
        )


@dataclass(frozen=True)
class Charge:
    """What a request is charged, and whether a conservative rate (not a published one) was used for it or
    the provider reported no usage to price: then it is an estimate."""

    amount: Decimal
    estimated: bool


@dataclass(frozen=True)
class ModelSpec:
    id: str
    label: str
    family: str
    lifecycle: str
    shutdown: date | None
    replacement: str
    sizes: tuple[str, ...]
    size_rule: SizeRule | None
    default_size: str
    qualities: tuple[str, ...]
    default_quality: str
    n_max: int
    prompt_max: int
    formats: tuple[str, ...]
    backgrounds: tuple[str, ...]
    returns: str
    streams_partials: bool
    per_image: dict[str, dict[str, Decimal]]
    tokens: dict[str, Decimal]
    #: images an edit may send (0: the model cannot edit); whether it takes a markup; its input fidelities
    edit_inputs: int = 0
    markup: bool = False
    input_fidelity: tuple[str, ...] = ()
    #: token rates no source gives for this model: conservative figures, and charges using them are estimates
    estimated_rates: tuple[str, ...] = ()
    #: formats the SDK offers without naming this model for them (preview access): offered, with a warning
    unconfirmed_formats: tuple[str, ...] = ()

    @property
    def edits(self) -> bool:
        return self.edit_inputs > 0

    def lifecycle_on(self, day: date) -> str:
        if self.lifecycle == "deprecated" and self.shutdown and day >= self.shutdown:
            return "shut_down"
        return self.lifecycle

    def choice_label(self, today: date) -> str:
        """The model as a list shows it: its label, and its end of life when it has one."""
        status = self.lifecycle_on(today)
        if status == "shut_down":
            return f"{self.label} · shut down at OpenAI"
        if status == "deprecated" and self.shutdown:
            return f"{self.label} · deprecated, ends {self.shutdown:%d %b %Y}"
        return self.label

    def size_choices(self) -> list[str]:
        """The sizes a form offers: the model's own list, or the common sizes its rule allows."""
        if self.size_rule is None:
            return list(self.sizes)
        fitting = []
        for size in COMMON_FREE_SIZES:
            try:
                self.parse_size(size)
            except InvalidRequest:
                continue
            fitting.append(size)
        return fitting

    def describe_sizes(self) -> str:
        return self.size_rule.describe() if self.size_rule else ", ".join(self.sizes)

    def parse_size(self, size: str) -> tuple[int, int] | None:
        """The (width, height) a size asks for, None for "auto"; refuses what the model cannot make."""
        size = normalise_size(size)
        if self.size_rule is None:
            if size not in self.sizes:
                raise InvalidRequest(f"{self.id} cannot make {size!r}: choose one of {self.describe_sizes()}.")
            return None if size == "auto" else _split_size(size)
        rule = self.size_rule
        if size == "auto" and rule.allow_auto:
            return None
        dims = _split_size(size) if _looks_like_size(size) else None
        if dims is None:
            raise InvalidRequest(f"Size {size!r} is not WIDTHxHEIGHT: {self.id} takes {rule.describe()}.")
        width, height = dims
        fits = (
            width % rule.multiple == 0
            and height % rule.multiple == 0
            and rule.min_edge <= min(width, height)
            and max(width, height) <= rule.max_edge
            and width * height <= rule.max_pixels
            and max(width, height) <= rule.max_aspect * min(width, height)
        )
        if not fits:
            raise InvalidRequest(f"{self.id} cannot make {size}: it takes {rule.describe()}.")
        return dims

    def is_experimental_size(self, size: str) -> bool:
        if self.size_rule is None or not _looks_like_size(size):
            return False
        width, height = _split_size(size)
        return width * height > self.size_rule.experimental_above


@dataclass(frozen=True)
class ImageInputRule:
    """How an input image is counted in tokens (see [image_input] in models.toml)."""

    fit: int = 2048
    short_side: int = 768
    tile: int = 512
    per_tile: int = 170
    base: int = 85

    def tokens(self, width: int, height: int, *, bound: bool = False) -> int:
        scale = min(1.0, self.fit / max(width, height))
        if not bound:
            scale *= min(1.0, self.short_side / (min(width, height) * scale))
        tiles = math.ceil(width * scale / self.tile) * math.ceil(height * scale / self.tile)
        return self.base + self.per_tile * tiles


@dataclass(frozen=True)
class BatchTerms:
    """What the catalog records of the provider's Batch API: its window, and its discount with whether a
    source confirms it for images (unconfirmed, runs sent this way are charged the usual price)."""

    window_hours: int
    discount: Decimal
    confirmed: bool
    families: tuple[str, ...]
    source: str

    @property
    def hold_seconds(self) -> float:
        """How long a batch run's reservations are held: its window and an hour more."""
        return (self.window_hours + 1) * 3600.0

    def price(self, charge: Charge) -> Charge:
        if not self.confirmed:
            return charge
        return Charge((charge.amount * (1 - self.discount)).quantize(Decimal("0.000001")), charge.estimated)


class Catalog:
    def __init__(
        self,
        models: dict[str, ModelSpec],
        output_tokens: dict[str, tuple[int, int]],
        image_input: ImageInputRule | None = None,
        assets: tuple[SvgRules, GifRules] | None = None,
        batch: BatchTerms | None = None,
    ) -> None:
        self._models = models
        self._output_tokens = output_tokens
        self.image_input = image_input or ImageInputRule()
        self.svg, self.gif = assets or Catalog.load().assets()
        self.batch = batch or Catalog.load().batch

    def assets(self) -> tuple[SvgRules, GifRules]:
        return self.svg, self.gif

    @classmethod
    def load(cls, path: Path = CATALOG_FILE) -> Catalog:
        return _load(path)

    def models(self) -> list[ModelSpec]:
        return list(self._models.values())

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self._models[model_id]
        except KeyError:
            known = ", ".join(self._models)
            raise InvalidRequest(f"Unknown model {model_id!r}: choose one of {known}.") from None

    def validate(self, request: GenerationRequest, prompt: str, *, custom_endpoint: bool, today: date) -> list[str]:
        """Refuse what the model cannot serve; return warnings for what it serves reluctantly."""
        spec = self.get(request.model)
        warnings = self._lifecycle_warnings(spec, custom_endpoint=custom_endpoint, today=today)
        spec.parse_size(request.size)
        if spec.is_experimental_size(request.size):
            warnings.append(f"{request.size} is above 2560x1440: {spec.id} treats such sizes as experimental.")
        if request.quality not in spec.qualities:
            raise InvalidRequest(
                f"{spec.id} has no quality {request.quality!r}: choose one of {', '.join(spec.qualities)}."
            )
        if not isinstance(request.n, int) or not 1 <= request.n <= spec.n_max:
            raise InvalidRequest(f"{spec.id} makes 1 to {spec.n_max} images per request, not {request.n}.")
        if request.output_format not in spec.formats:
            raise InvalidRequest(
                f"{spec.id} cannot return {request.output_format!r}: choose one of {', '.join(spec.formats)}."
            )
        check_asset(request, spec.formats, self.svg, self.gif)
        if request.output_format in spec.unconfirmed_formats:
            warnings.append(
                f"{request.output_format.upper()} output needs preview access on the account; the SDK does not "
                f"name {spec.id} for it (unconfirmed)."
            )
        if request.background not in ("", "auto") and request.background not in spec.backgrounds:
            raise InvalidRequest(f"{spec.id} cannot set the background; leave it on auto.")
        if request.background == "transparent" and request.output_format == "jpeg":
            raise InvalidRequest("A transparent background needs png or webp output; jpeg has no transparency.")
        if request.compression is not None:
            if request.output_format == "png":
                raise InvalidRequest("Compression applies to jpeg and webp only; png is lossless.")
            if not 0 <= request.compression <= 100:
                raise InvalidRequest(f"Compression is 0 to 100 percent, not {request.compression}.")
        if len(prompt) > spec.prompt_max:
            raise InvalidRequest(
                f"The prompt has {len(prompt):,} characters; {spec.id} takes at most {spec.prompt_max:,}."
            )
        return warnings

    def _lifecycle_warnings(self, spec: ModelSpec, *, custom_endpoint: bool, today: date) -> list[str]:
        status = spec.lifecycle_on(today)
        instead = f" Use {spec.replacement} instead." if spec.replacement else ""
        if status == "shut_down":
            when = f" on {spec.shutdown.isoformat()}" if spec.shutdown else ""
            if not custom_endpoint:
                raise InvalidRequest(f"{spec.id} was shut down at OpenAI{when}.{instead}")
            return [f"{spec.id} was shut down at OpenAI{when}; using it because a compatible server serves it."]
        if status == "deprecated" and spec.shutdown:
            return [f"{spec.id} is deprecated and shuts down on {spec.shutdown.isoformat()}.{instead}"]
        return []

    def estimate_cost(
        self, request: GenerationRequest, prompt: str | None = None, inputs: Sequence[tuple[int, int]] = ()
    ) -> Decimal:
        """What a request usually costs, before the call: the price table, or the token arithmetic with
        the usual prompt tokens (4 characters each) and the quality's output tokens; plus an edit's input
        images (`inputs`: their sizes), sent once for all n images."""
        spec = self.get(request.model)
        dims = _estimation_dims(request.size)
        images_in = self._input_price(spec, self.input_image_tokens(inputs, request.input_fidelity))
        per_image = self._table_price(spec, request.quality, request.size, dims)
        # The prompt is sent once for all n images; "auto" is priced as high by the output token table.
        text_tokens = Decimal(prompt_tokens(prompt or request.prompt))
        if per_image is not None:
            text = Decimal(0) if self._priced_by_tokens(spec) else self._token_price(spec, text_tokens, 0)
            author = self._author_usual(request, prompt)
            return _round_up(per_image * self._images(request) + images_in + text + author)
        output = self.expected_output_tokens(request.quality, dims) * self._images(request)
        return _round_up(self._token_price(spec, text_tokens, output) + images_in + self._author_usual(request, prompt))

    def _images(self, request: GenerationRequest) -> int:
        """The images a request is billed for: n pictures, or an animation's frames."""
        return request.n * (self.gif.frames(request) if request.output_format == "gif" else 1)

    def _writes_svg(self, request: GenerationRequest) -> bool:
        """Whether an SVG author is paid for: an SVG from a provider (the offline renderer draws its own)."""
        return request.output_format == "svg" and self.get(request.model).family != "offline"

    def _author_usual(self, request: GenerationRequest, prompt: str | None) -> Decimal:
        if not self._writes_svg(request):
            return Decimal(0)
        return self.svg.usual_cost(request, prompt_tokens(prompt or request.prompt))

    def input_image_tokens(self, sizes: Sequence[tuple[int, int]], fidelity: str = "", *, bound: bool = False) -> int:
        """The image input tokens of an edit's images (sizes in order, the starting image first)."""
        tokens = sum(self.image_input.tokens(w, h, bound=bound) for w, h in sizes)
        if sizes and (bound or fidelity == "high"):
            tokens += self.expected_output_tokens("high", sizes[0])
        return tokens

    def max_cost(
        self, request: GenerationRequest, prompt: str | None = None, inputs: Sequence[tuple[int, int]] = ()
    ) -> Decimal:
        """The most the provider can bill for the request: what is reserved, so that a committed cost never
        exceeds its reservation. Every prompt token at most one byte of text, counted for each image; the
        output tokens of the most expensive quality the request allows, at its size; an edit's input images
        at their largest count, also for each image."""
        spec = self.get(request.model)
        dims = _estimation_dims(request.size)
        prompt_bytes = Decimal(len((prompt or request.prompt).encode()))
        images_in = self._input_price(spec, self.input_image_tokens(inputs, bound=True))
        by_tokens = self._priced_by_tokens(spec)
        bound = max(
            max(
                (self._table_price(spec, quality, request.size, dims) or Decimal(0))
                + (Decimal(0) if by_tokens else self._token_price(spec, prompt_bytes, 0)),
                self._token_price(spec, prompt_bytes, self.expected_output_tokens(quality, dims)),
            )
            for quality in _bounding_qualities(spec, request.quality)
        )
        author = self.svg.max_cost(request, int(prompt_bytes)) if self._writes_svg(request) else Decimal(0)
        return _round_up((bound + images_in) * self._images(request) + author)

    def charge(self, request: GenerationRequest, usage: Usage | None, estimate: Decimal) -> Charge:
        """What the provider charged. Every token `usage` reports is priced: at the model's rate, or where no
        source gives one at the conservative rate the catalog states (then the charge is an estimate). A
        model whose images are priced by table pays its table price for the output, plus its input tokens.
        Without usage, the usual price (an estimate for a model priced by token)."""
        spec = self.get(request.model)
        if usage is None or (usage.output_tokens == 0 and usage.input_text_tokens == 0):
            return Charge(estimate, estimated=bool(spec.tokens) and spec.family != "offline")
        picture = self._picture_charge(request, usage, estimate, spec)
        if request.output_format != "svg" or spec.family == "offline":
            return picture
        # No source gives the authors' rates: an SVG's charge is always an estimate.
        return Charge(_round_up(picture.amount + self.svg.charge(request, usage)), estimated=True)

    def _picture_charge(self, request: GenerationRequest, usage: Usage, estimate: Decimal, spec: ModelSpec) -> Charge:
        priced = [
            ("text_in", usage.input_text_tokens),
            ("image_in", usage.input_image_tokens),
            *([("image_out", usage.output_tokens)] if self._priced_by_tokens(spec) else []),
        ]
        cost, estimated = Decimal(0), False
        for name, count in priced:
            rate, guessed = self.rate(spec, name)
            cost += Decimal(count) * rate
            estimated = estimated or (guessed and count > 0)
        cost /= MILLION
        if not self._priced_by_tokens(spec):
            dims = _estimation_dims(request.size)
            table = self._table_price(spec, request.quality, request.size, dims) or Decimal(0)
            cost += table * self._images(request)
        if not spec.tokens and not spec.per_image:
            return Charge(estimate, estimated=False)
        return Charge(_round_up(cost), estimated)

    def rate(self, spec: ModelSpec, name: str) -> tuple[Decimal, bool]:
        """A token rate in dollars per million, and whether it is a conservative figure: the model's own, or
        for a rate it lacks the highest of its family (a family with none: nothing, as an estimate)."""
        if name in spec.tokens:
            return spec.tokens[name], name in spec.estimated_rates
        family = [m.tokens[name] for m in self._models.values() if m.family == spec.family and name in m.tokens]
        return (max(family) if family else Decimal(0)), True

    @staticmethod
    def _priced_by_tokens(spec: ModelSpec) -> bool:
        return "image_out" in spec.tokens or not spec.per_image

    def expected_output_tokens(self, quality: str, dims: tuple[int, int]) -> int:
        square, other = self._output_tokens.get(quality, self._output_tokens["high"])
        width, height = dims
        base, reference = (square, STANDARD_SQUARE) if width == height else (other, STANDARD_OTHER)
        return math.ceil(base * max(1.0, width * height / reference))

    def _table_price(self, spec: ModelSpec, quality: str, size: str, dims: tuple[int, int]) -> Decimal | None:
        table = spec.per_image.get(quality)
        if not table:
            return None
        width, height = dims
        shape = "square" if width == height else "other"
        price = table.get(size) or table.get(shape) or max(table.values())
        if spec.size_rule is None:
            return price
        # Free sizes beyond the standard ones are priced in proportion to their pixels.
        reference = STANDARD_SQUARE if width == height else STANDARD_OTHER
        return price * Decimal(max(1.0, width * height / reference)).quantize(Decimal("0.0001"))

    def _input_price(self, spec: ModelSpec, tokens: int) -> Decimal:
        if not tokens:
            return Decimal(0)
        return Decimal(tokens) * self.rate(spec, "image_in")[0] / MILLION

    def _token_price(self, spec: ModelSpec, prompt_tokens: Decimal, output_tokens: int) -> Decimal:
        """The prompt's tokens, and the output's where the model prices its images by token."""
        if not spec.tokens:
            return Decimal(0)
        output = output_tokens * spec.tokens["image_out"] if "image_out" in spec.tokens else Decimal(0)
        return (prompt_tokens * self.rate(spec, "text_in")[0] + output) / MILLION


def _bounding_qualities(spec: ModelSpec, quality: str) -> list[str]:
    # "auto" lets the service choose: bound it by every quality the model has.
    return list(spec.qualities) if quality == "auto" else [quality]


_SIZE = re.compile(r"[0-9]{1,5}x[0-9]{1,5}")


def normalise_size(size: str) -> str:
    """ "1024 x 1024", "1024X1024" and "1024×1024" are 1024x1024; only ASCII digits count."""
    return re.sub(r"\s+", "", size).lower().replace("\u00d7", "x")


def _looks_like_size(size: str) -> bool:
    return _SIZE.fullmatch(size) is not None


def _split_size(size: str) -> tuple[int, int]:
    width, height = size.split("x")
    return int(width), int(height)


def _estimation_dims(size: str) -> tuple[int, int]:
    if _looks_like_size(size):
        return _split_size(size)
    return (1536, 1024)  # "auto" may choose the larger standard size: estimate for it


def _round_up(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.000001"), rounding=ROUND_CEILING)


def _decimal_map(raw: dict[str, Any]) -> dict[str, Decimal]:
    return {str(k): Decimal(str(v)) for k, v in raw.items()}


@lru_cache(maxsize=4)
def _load(path: Path) -> Catalog:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    rules = {name: SizeRule(**rule) for name, rule in data.get("size_rules", {}).items()}
    models: dict[str, ModelSpec] = {}
    for raw in data["models"]:
        rule_name = raw.get("size_rule")
        shutdown = raw.get("shutdown")
        models[raw["id"]] = ModelSpec(
            id=raw["id"],
            label=raw.get("label", raw["id"]),
            family=raw["family"],
            lifecycle=raw["lifecycle"],
            shutdown=date.fromisoformat(shutdown) if shutdown else None,
            replacement=raw.get("replacement", ""),
            sizes=tuple(raw.get("sizes", ())),
            size_rule=rules[rule_name] if rule_name else None,
            default_size=raw["default_size"],
            qualities=tuple(raw["qualities"]),
            default_quality=raw["default_quality"],
            n_max=int(raw["n_max"]),
            prompt_max=int(raw["prompt_max"]),
            formats=tuple(raw["formats"]),
            backgrounds=tuple(raw.get("backgrounds", ())),
            returns=raw["returns"],
            streams_partials=bool(raw["streams_partials"]),
            per_image={q: _decimal_map(t) for q, t in raw.get("per_image", {}).items()},
            tokens=_decimal_map(raw.get("tokens", {})),
            edit_inputs=int(raw.get("edit_inputs", 0)),
            markup=bool(raw.get("markup", False)),
            input_fidelity=tuple(raw.get("input_fidelity", ())),
            estimated_rates=tuple(raw.get("estimated_rates", ())),
            unconfirmed_formats=tuple(raw.get("unconfirmed_formats", ())),
        )
    output_tokens = {q: (int(v[0]), int(v[1])) for q, v in data["output_tokens"].items()}
    batch = data["batch"]
    terms = BatchTerms(
        window_hours=int(batch["window_hours"]),
        discount=Decimal(str(batch["discount"])),
        confirmed=bool(batch["discount_confirmed"]),
        families=tuple(batch["families"]),
        source=str(batch["source"]),
    )
    return Catalog(models, output_tokens, ImageInputRule(**data.get("image_input", {})), load_rules(data), terms)
