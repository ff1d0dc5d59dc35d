"""What a request costs: the real cost from usage, and the encodings the offline renderer makes."""

import io
from dataclasses import replace
from decimal import Decimal

import pytest
from PIL import Image

from imagegen import Catalog, GenerationRequest, Usage
from imagegen.catalog import SizeRule
from imagegen.imaging import _quality, encode

SUNBURST = GenerationRequest("a fox", model="gpt-image-2.6-sunburst", quality="medium", size="1024x1024")


@pytest.fixture
def catalog():
    return Catalog.load()


def test_the_real_cost_counts_text_image_and_output_tokens_at_their_rates(catalog):
    cost = catalog.actual_cost(SUNBURST, Usage(100, 200, 1000), Decimal("9"))
    assert cost == (Decimal(100) * 5 + Decimal(200) * 8 + Decimal(1000) * 30) / 1_000_000


@pytest.mark.parametrize("usage", [Usage(0, 0, 1000), Usage(40, 0, 0)])
def test_any_reported_tokens_are_what_is_charged(catalog, usage):
    expected = (Decimal(usage.input_text_tokens) * 5 + Decimal(usage.output_tokens) * 30) / 1_000_000
    assert catalog.actual_cost(SUNBURST, usage, Decimal("9")) == expected


@pytest.mark.parametrize("usage", [None, Usage(0, 0, 0)])
def test_without_usage_the_usual_price_is_charged(catalog, usage):
    assert catalog.actual_cost(SUNBURST, usage, Decimal("0.05")) == Decimal("0.05")


def test_a_model_priced_by_table_is_charged_its_table_price_whatever_the_usage(catalog):
    request = GenerationRequest("a fox", model="gpt-image-2", quality="medium", size="1024x1024")
    assert catalog.actual_cost(request, Usage(10, 0, 5000), Decimal("0.053")) == Decimal("0.053")


def test_a_rate_the_catalog_lacks_costs_nothing(catalog):
    spec = catalog.get("gpt-image-2.6-sunburst")
    rates = {name: rate for name, rate in spec.tokens.items() if name != "image_in"}
    without = Catalog({spec.id: replace(spec, tokens=rates)}, catalog._output_tokens)
    assert without.actual_cost(SUNBURST, Usage(0, 500, 100), Decimal("9")) == Decimal(3000) / 1_000_000


def test_size_rules_and_lists_describe_themselves(catalog):
    free = catalog.get("gpt-image-2")
    assert free.describe_sizes().endswith(", or auto")
    no_auto = SizeRule(16, 256, 3840, 8_294_400, 3, 3_686_400, allow_auto=False)
    assert not no_auto.describe().endswith("auto") and "multiples of 16" in no_auto.describe()
    assert catalog.get("gpt-image-1.5").describe_sizes() == "1024x1024, 1536x1024, 1024x1536, auto"


@pytest.mark.parametrize(("compression", "quality"), [(None, 90), (0, 1), (50, 50), (100, 95)])
def test_compression_maps_to_an_encoder_quality(compression, quality):
    assert _quality(compression) == quality


@pytest.mark.parametrize("output_format", ["jpeg", "webp"])
def test_compression_changes_what_is_encoded(output_format):
    noise = Image.effect_noise((128, 128), 60).convert("RGB")
    small, large = encode(noise, output_format, 5), encode(noise, output_format, 95)
    assert len(small) < len(large)
    assert encode(noise, output_format, None) == encode(noise, output_format, 90)


def test_a_transparent_picture_can_still_be_a_jpeg():
    picture = Image.new("RGBA", (32, 32), (10, 20, 30, 0))
    assert Image.open(io.BytesIO(encode(picture, "jpeg"))).mode == "RGB"
    assert Image.open(io.BytesIO(encode(picture, "png"))).mode == "RGBA"
