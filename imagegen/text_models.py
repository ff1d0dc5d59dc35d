"""The text models the writing Director can use, read from models.toml's [[text_models]]: their lifecycle,
their rates, and how a rewrite is bounded before the call and charged after it."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache
from pathlib import Path

from imagegen.errors import InvalidRequest

MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class TextModel:
    id: str
    label: str
    lifecycle: str
    text_in: Decimal
    text_out: Decimal
    max_output_tokens: int
    #: the most one image read at low detail (512 px at most on its long side) may count as input tokens
    image_input_tokens_max: int = 0
    #: no source gives its rates: they are conservative figures, and what it charges is an estimate
    rates_unconfirmed: bool = False

    def bound(self, input_bytes: int, images: int = 0) -> Decimal:
        """The most one call can be billed: every input byte a token, each image its most, and every token
        it may write."""
        read = input_bytes + images * self.image_input_tokens_max
        return _round_up((read * self.text_in + self.max_output_tokens * self.text_out) / MILLION)

    def charge(self, input_tokens: int, output_tokens: int) -> Decimal:
        """What a call's usage costs at this model's rates."""
        return _round_up((input_tokens * self.text_in + output_tokens * self.text_out) / MILLION)


def text_model(model_id: str, path: Path | None = None) -> TextModel:
    models = _load(path or Path(__file__).with_name("models.toml"))
    try:
        return models[model_id]
    except KeyError:
        raise InvalidRequest(f"Unknown text model {model_id!r}: choose one of {', '.join(models)}.") from None


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, TextModel]:
    return text_models_in(tomllib.loads(path.read_text(encoding="utf-8")))


def text_models_in(data: dict) -> dict[str, TextModel]:
    """The [[text_models]] of a parsed models.toml, by id."""
    return {
        raw["id"]: TextModel(
            id=raw["id"],
            label=raw["label"],
            lifecycle=raw["lifecycle"],
            text_in=Decimal(str(raw["text_in"])),
            text_out=Decimal(str(raw["text_out"])),
            max_output_tokens=int(raw["max_output_tokens"]),
            image_input_tokens_max=int(raw.get("image_input_tokens_max", 0)),
            rates_unconfirmed=bool(raw.get("rates_unconfirmed", False)),
        )
        for raw in data.get("text_models", [])
    }


def _round_up(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.000001"), rounding=ROUND_CEILING)
