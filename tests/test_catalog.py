from datetime import date
from decimal import Decimal

import pytest

from imagegen import Catalog, GenerationRequest, InvalidRequest, Usage

TODAY = date(2026, 11, 25)


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.load()


def req(**kw) -> GenerationRequest:
    base = {"prompt": "a cat", "model": "gpt-image-2.6-flare", "size": "1024x1024", "quality": "medium"}
    return GenerationRequest(**{**base, **kw})


def test_the_catalog_covers_the_models_teams_use(catalog):
    ids = {m.id for m in catalog.models()}
    assert {
        "gpt-image-2.6-flare",
        "gpt-image-2.6-sunburst",
        "gpt-image-2",
        "gpt-image-1.5",
        "gpt-image-1-mini",
        "dall-e-3",
        "dall-e-2",
        "offline",
    } <= ids


def test_lifecycles_follow_the_calendar(catalog):
    assert catalog.get("gpt-image-1.5").lifecycle_on(TODAY) == "deprecated"
    assert catalog.get("gpt-image-1.5").lifecycle_on(date(2026, 12, 1)) == "shut_down"
    assert catalog.get("dall-e-3").lifecycle_on(TODAY) == "shut_down"
    assert catalog.get("gpt-image-2.6-flare").lifecycle_on(TODAY) == "active"


def test_a_shut_down_model_is_refused_at_openai_and_allowed_with_a_warning_elsewhere(catalog):
    request = req(model="dall-e-3", quality="standard")
    with pytest.raises(InvalidRequest, match="shut down at OpenAI on 2026-05-12.*Use gpt-image"):
        catalog.validate(request, "a cat", custom_endpoint=False, today=TODAY)
    warnings = catalog.validate(request, "a cat", custom_endpoint=True, today=TODAY)
    assert "compatible server" in warnings[0]


def test_a_deprecated_model_warns_with_its_shutdown_date(catalog):
    warnings = catalog.validate(req(model="gpt-image-1-mini"), "a cat", custom_endpoint=False, today=TODAY)
    assert "2026-12-01" in warnings[0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": "1000x1000", "model": "gpt-image-2"}, "multiples of 16"),
        ({"size": "3840x1088", "model": "gpt-image-2"}, "aspect"),  # wider than 3:1
        ({"size": "1088x3840", "model": "gpt-image-2"}, "aspect"),  # taller than 1:3
        ({"size": "4096x2304", "model": "gpt-image-2"}, "3840"),
        ({"size": "big", "model": "gpt-image-2"}, "WIDTHxHEIGHT"),
        ({"size": "1536x864"}, "choose one of 1024x1024"),  # free sizes are unconfirmed for 2.6
        ({"model": "gpt-image-1.5", "size": "1536x1536"}, "1024x1024, 1536x1024"),
        ({"quality": "ultra"}, "low, medium, high"),
        ({"n": 11}, "1 to 10"),
        ({"model": "dall-e-3", "quality": "standard", "n": 2}, "1 to 1"),
        ({"model": "gpt-image-1.5", "output_format": "gif"}, "png, jpeg, webp"),
        ({"background": "transparent", "output_format": "jpeg"}, "png or webp"),
        ({"compression": 50}, "jpeg and webp only"),
        ({"output_format": "webp", "compression": 101}, "0 to 100"),
        ({"model": "dall-e-3", "quality": "standard", "background": "transparent"}, "background"),
        ({"model": "nano-banana"}, "Unknown model"),
    ],
)
def test_requests_a_model_cannot_serve_are_refused_naming_what_is_allowed(catalog, changes, message):
    with pytest.raises(InvalidRequest, match=message):
        catalog.validate(req(**changes), "a cat", custom_endpoint=True, today=TODAY)


def test_free_sizes_inside_the_rule_are_accepted(catalog):
    spec = catalog.get("gpt-image-2")
    assert spec.parse_size("1536x864") == (1536, 864)
    assert spec.parse_size("auto") is None
    assert spec.parse_size("3840x2160") == (3840, 2160)
    assert spec.is_experimental_size("3840x2160") and not spec.is_experimental_size("1536x1024")


def test_prompt_limits_are_per_model(catalog):
    with pytest.raises(InvalidRequest, match="at most 1,000"):
        catalog.validate(req(model="dall-e-2", quality="standard"), "x" * 1001, custom_endpoint=True, today=TODAY)


def test_estimates_use_the_published_per_image_table(catalog):
    prompt = Decimal(2 * 5) / 1_000_000  # "a cat": 2 prompt tokens at the $5 per million the catalog states
    assert catalog.estimate_cost(req(model="gpt-image-2", quality="high")) == Decimal("0.211") + prompt
    assert catalog.estimate_cost(req(model="gpt-image-2", quality="low", size="1536x1024")) == Decimal("0.005") + prompt
    assert catalog.estimate_cost(req(model="gpt-image-1-mini", quality="medium", n=3)) == Decimal("0.033")
    assert catalog.estimate_cost(req(model="dall-e-3", quality="hd", size="1792x1024")) == Decimal("0.12")
    assert catalog.estimate_cost(req(model="dall-e-2", quality="standard", size="256x256")) == Decimal("0.016")
    assert catalog.estimate_cost(req(model="offline", quality="auto")) == 0


def test_token_priced_models_estimate_from_expected_tokens(catalog):
    # 1056 output tokens at $30/M plus a 5-character prompt (2 tokens at 3 chars each) at $5/M
    cost = catalog.estimate_cost(req(model="gpt-image-2.6-sunburst", prompt="a cat"))
    assert cost == Decimal("0.03169")
    bigger = catalog.estimate_cost(req(model="gpt-image-2.6-sunburst", size="2048x2048", prompt="a cat"))
    assert bigger > cost * 3


def test_the_actual_cost_comes_from_usage_tokens(catalog):
    usage = Usage(input_text_tokens=50, input_image_tokens=0, output_tokens=1056)
    cost = catalog.charge(req(model="gpt-image-2.6-sunburst"), usage, Decimal("1")).amount
    assert cost == Decimal("0.03193")  # 50 * 5e-6 + 1056 * 30e-6
    assert catalog.charge(req(model="dall-e-3", quality="standard"), None, Decimal("0.04")).amount == Decimal("0.04")


@pytest.mark.parametrize("size", ["1024x3072", "3072x1024", "1536x864", "864x1536"])
def test_both_extreme_aspects_are_allowed_where_sizes_are_free(catalog, size):
    catalog.validate(req(model="gpt-image-2", size=size, quality="low"), "a cat", custom_endpoint=False, today=TODAY)
