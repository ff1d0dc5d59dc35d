"""One way to write money everywhere: pages, refusals and the CLI."""

from decimal import Decimal

import pytest

from imagegen.money import usd


@pytest.mark.parametrize(
    "amount,written",
    [
        (0, "$0.00"),
        (0.014, "$0.0140"),
        (Decimal("0.000003"), "$0.000003"),
        (0.0001, "$0.0001"),
        (0.0999, "$0.0999"),
        (0.1, "$0.10"),
        (25, "$25.00"),
        (1234.5, "$1,234.50"),
        (-0.05, "-$0.0500"),
        (-2, "-$2.00"),
    ],
)
def test_amounts_under_ten_cents_keep_four_places_and_others_are_cents(amount, written):
    assert usd(amount) == written


def test_micro_dollars_read_as_dollars_and_none_as_nothing():
    from imagegen.money import to_micros, to_usd

    assert to_usd(None) == 0.0 and to_usd(0) == 0.0 and to_usd(1_500_000) == 1.5
    assert to_micros(Decimal("0.000001")) == 1 and to_micros(2.5) == 2_500_000
