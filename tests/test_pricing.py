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
    cost = catalog.charge(SUNBURST, Usage(100, 200, 1000), Decimal("9")).amount
    assert cost == (Decimal(100) * 5 + Decimal(200) * 8 + Decimal(1000) * 30) / 1_000_000


@pytest.mark.parametrize("usage", [Usage(0, 0, 1000), Usage(40, 0, 0)])
def test_any_reported_tokens_are_what_is_charged(catalog, usage):
    expected = (Decimal(usage.input_text_tokens) * 5 + Decimal(usage.output_tokens) * 30) / 1_000_000
    assert catalog.charge(SUNBURST, usage, Decimal("9")).amount == expected


@pytest.mark.parametrize("usage", [None, Usage(0, 0, 0)])
def test_without_usage_the_usual_price_is_charged(catalog, usage):
    assert catalog.charge(SUNBURST, usage, Decimal("0.05")).amount == Decimal("0.05")


def test_a_model_priced_by_table_pays_its_table_price_plus_every_input_token_as_an_estimate(catalog):
    request = GenerationRequest("a fox", model="gpt-image-2", quality="medium", size="1024x1024")
    charge = catalog.charge(request, Usage(10, 12_240, 5000), Decimal("0.053"))
    # the table's $0.053 for the image; text and input image tokens at the family's highest rates, $5 and $10
    assert charge.amount == Decimal("0.053") + (Decimal(10) * 5 + Decimal(12_240) * 10) / 1_000_000
    assert charge.estimated


def test_a_charge_from_published_rates_is_not_an_estimate(catalog):
    assert not catalog.charge(SUNBURST, Usage(100, 200, 1000), Decimal("9")).estimated
    assert catalog.charge(SUNBURST, None, Decimal("0.05")).estimated  # no usage: the usual price, guessed
    dalle = GenerationRequest("a fox", model="dall-e-3", quality="standard", size="1024x1024")
    assert catalog.charge(dalle, None, Decimal("0.04")) == catalog.charge(dalle, None, Decimal("0.04"))
    assert not catalog.charge(dalle, None, Decimal("0.04")).estimated  # its published per-image price


def test_every_gpt_image_model_prices_text_and_input_images(catalog):
    for spec in catalog.models():
        if spec.family == "gpt-image":
            assert {"text_in", "image_in"} <= set(spec.tokens), spec.id
            assert set(spec.estimated_rates) <= set(spec.tokens)


def test_a_rate_the_model_lacks_is_the_highest_of_its_family_as_an_estimate(catalog):
    spec = catalog.get("gpt-image-2.6-sunburst")
    rates = {name: rate for name, rate in spec.tokens.items() if name != "image_in"}
    flare = catalog.get("gpt-image-2.6-flare")
    without = Catalog({spec.id: replace(spec, tokens=rates), flare.id: flare}, catalog._output_tokens)
    charge = without.charge(SUNBURST, Usage(0, 500, 100), Decimal("9"))
    assert charge.amount == (Decimal(500) * flare.tokens["image_in"] + Decimal(100) * 30) / 1_000_000
    assert charge.estimated


@pytest.mark.parametrize("inputs", [1, 4, 16])
@pytest.mark.parametrize("quality", ["low", "medium", "high", "auto"])
def test_a_gpt_image_2_edit_charged_from_its_usage_stays_within_its_reservation(catalog, inputs, quality):
    from tests.fakes.images_contract import input_image_tokens

    request = GenerationRequest("add a hat " * 40, model="gpt-image-2", quality=quality, size="1536x1024", n=2)
    sizes = [(2048, 2048)] * inputs
    reserved = catalog.max_cost(request, inputs=sizes)
    billed = Usage(len(request.prompt), input_image_tokens(sizes, None), 0)
    assert Decimal(0) < catalog.charge(request, billed, catalog.estimate_cost(request, inputs=sizes)).amount <= reserved


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
