"""Money as the studio keeps it (whole micro-dollars, so sums are exact) and the one way it is written, on
pages, in messages and in the CLI."""

from __future__ import annotations

from decimal import Decimal

MICROS = Decimal(1_000_000)


def to_micros(usd: Decimal | float) -> int:
    return int((Decimal(str(usd)) * MICROS).to_integral_value())


def to_usd(micros: int | None) -> float:
    return float(Decimal(micros or 0) / MICROS)


def usd(amount: Decimal | float | int) -> str:
    """Dollars and cents; under ten cents four places (six under a hundredth of a cent), so that a real
    cost never reads as $0.00."""
    value = float(amount)
    size = abs(value)
    places = 2 if size == 0 or size >= 0.1 else 4 if size >= 0.0001 else 6
    return f"{'-' if value < 0 else ''}${size:,.{places}f}"
