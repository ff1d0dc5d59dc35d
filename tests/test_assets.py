"""Animations and vector logos in the catalog: what the API refuses for each is refused before anything is
spent, and each is priced, reserved and charged for what it really bills (frames; the SVG author's tokens)."""

from datetime import date
from decimal import Decimal

import pytest

from imagegen import Catalog, GenerationRequest, InvalidRequest, Usage

TODAY = date(2026, 12, 3)


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.load()


def req(**kw) -> GenerationRequest:
    base = {"prompt": "a fox mark", "model": "gpt-image-2.6-flare", "size": "1024x1024", "quality": "medium"}
    return GenerationRequest(**{**base, **kw})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"output_format": "svg", "n": 2}, "one at a time"),
        ({"output_format": "gif", "frame_count": 1}, "2 to 16 frames, not 1"),
        ({"output_format": "gif", "frame_count": 17}, "2 to 16 frames, not 17"),
        ({"output_format": "gif", "frame_duration_ms": 0}, "10 to 655,350 ms"),
        ({"output_format": "gif", "frame_duration_ms": 655_351}, "10 to 655,350 ms"),
        ({"output_format": "png", "frame_count": 4}, "animation .gif. only"),
        ({"output_format": "png", "svg_author": "gpt-5.5"}, "svg. only"),
        ({"output_format": "gif", "compression": 50}, "not to gif"),
        ({"output_format": "svg", "compression": 50}, "not to svg"),
        ({"output_format": "svg", "background": "transparent"}, "no backdrop"),
        ({"output_format": "gif", "mask": "ab12"}, "cannot be made with a mask"),
        ({"output_format": "svg", "svg_author": "gpt-9"}, "Unknown SVG author"),
        ({"output_format": "svg", "svg_effort": "extreme"}, "not one of none, minimal"),
        ({"output_format": "svg", "model": "gpt-image-1.5"}, "cannot return 'svg'"),
    ],
)
def test_what_the_api_refuses_for_a_kind_is_refused_saying_what_to_change(catalog, changes, message):
    with pytest.raises(InvalidRequest, match=message):
        catalog.validate(req(**changes), "a fox mark", custom_endpoint=True, today=TODAY)


@pytest.mark.parametrize("fmt", ["gif", "svg"])
def test_a_preview_format_is_served_with_a_warning_that_it_is_unconfirmed(catalog, fmt):
    warnings = catalog.validate(req(output_format=fmt), "a fox mark", custom_endpoint=False, today=TODAY)
    assert any("preview access" in w and "unconfirmed" in w for w in warnings)
    assert catalog.validate(req(model="offline", output_format=fmt), "a fox", custom_endpoint=False, today=TODAY) == []


def test_an_animation_is_priced_and_reserved_per_frame(catalog):
    picture = req()
    nine, four = req(output_format="gif"), req(output_format="gif", frame_count=4)
    one_frame = catalog.expected_output_tokens("medium", (1024, 1024)) * catalog.get(picture.model).tokens["image_out"]
    one_frame /= 10**6  # the prompt is sent once; each frame is an image's output
    assert catalog.estimate_cost(nine) - catalog.estimate_cost(picture) == 8 * one_frame
    assert catalog.estimate_cost(four) - catalog.estimate_cost(picture) == 3 * one_frame
    assert catalog.max_cost(four) == catalog.max_cost(picture) * 4


def test_a_vector_logo_adds_its_authors_tokens_to_the_reference_image(catalog):
    picture, logo = req(), req(output_format="svg", svg_author="gpt-5.4-mini")
    rules = catalog.svg
    author = rules.authors["gpt-5.4-mini"]
    usual = ((rules.input_tokens_usual + 3) * author.text_in + rules.output_tokens_usual * author.text_out) / 10**6
    assert catalog.estimate_cost(logo) == catalog.estimate_cost(picture) + usual
    bound = (rules.input_tokens_max + 10) * author.text_in + rules.output_tokens_max * author.text_out
    assert catalog.max_cost(logo) == catalog.max_cost(picture) + bound / 10**6


def test_without_a_named_author_the_dearest_is_reserved(catalog):
    default, dear = req(output_format="svg"), req(output_format="svg", svg_author="gpt-5.5")
    assert (
        catalog.max_cost(default)
        == catalog.max_cost(dear)
        > catalog.max_cost(req(output_format="svg", svg_author="gpt-5.4-mini"))
    )


def test_a_logos_charge_adds_what_svg_usage_reports_at_its_authors_rates_and_is_an_estimate(catalog):
    logo = req(output_format="svg", svg_author="gpt-5.4-mini")
    image = Usage(input_text_tokens=20, output_tokens=1056)
    with_author = Usage(20, 0, 1056, "gpt-5.5", 3000, 9000)
    picture = catalog.charge(req(), image, Decimal(0))
    charged = catalog.charge(logo, with_author, Decimal(0))
    author = catalog.svg.authors["gpt-5.5"]  # the author svg_usage names, not the one asked for
    assert charged.amount == picture.amount + (3000 * author.text_in + 9000 * author.text_out) / 10**6
    assert charged.estimated


def test_the_most_a_logo_can_bill_stays_within_its_reservation(catalog):
    logo = req(output_format="svg", quality="high")
    rules = catalog.svg
    worst = Usage(10, 0, catalog.expected_output_tokens("high", (1024, 1024)), "gpt-5.5")
    worst.svg_input_tokens, worst.svg_output_tokens = rules.input_tokens_max, rules.output_tokens_max
    assert catalog.charge(logo, worst, Decimal(0)).amount <= catalog.max_cost(logo)


def test_the_offline_renderers_logos_and_animations_cost_nothing(catalog):
    for fmt in ("svg", "gif"):
        request = req(model="offline", output_format=fmt, quality="auto")
        assert catalog.estimate_cost(request) == 0 and catalog.max_cost(request) == 0
        assert catalog.charge(request, None, catalog.estimate_cost(request)).amount == 0
