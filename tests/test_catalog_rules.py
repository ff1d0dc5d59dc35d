"""The catalog's smaller rules, each at its edge: limits, warnings, messages and the price arithmetic."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from imagegen import Catalog, GenerationRequest, InvalidRequest, Usage

TODAY = date(2026, 11, 25)


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.load()


def req(**kw) -> GenerationRequest:
    base = {"prompt": "a cat", "model": "gpt-image-2", "size": "1024x1024", "quality": "medium"}
    return GenerationRequest(**{**base, **kw})


def with_model(catalog: Catalog, model_id: str, **changes) -> Catalog:
    """A catalog of one model, changed: for rules today's data does not reach."""
    spec = replace(catalog.get(model_id), **changes)
    return Catalog({spec.id: spec}, {q: (272 * i, 408 * i) for i, q in enumerate(["low", "high", "auto"], 1)})


def validate(catalog: Catalog, request: GenerationRequest, *, custom_endpoint: bool = False) -> list[str]:
    return catalog.validate(request, request.prompt, custom_endpoint=custom_endpoint, today=TODAY)


def refusal(catalog: Catalog, request: GenerationRequest, **kw) -> str:
    with pytest.raises(InvalidRequest) as caught:
        validate(catalog, request, **kw)
    return caught.value.message


def test_an_unknown_model_is_refused_with_every_known_id(catalog):
    with pytest.raises(InvalidRequest) as caught:
        catalog.get("gpt-9")
    known = ", ".join(m.id for m in catalog.models())
    assert caught.value.message == f"Unknown model 'gpt-9': choose one of {known}."


def test_the_size_rule_is_described_exactly(catalog):
    rule = catalog.get("gpt-image-2").size_rule
    described = "any WxH with both sides multiples of 16, 256 to 3840 px, aspect 1:3 to 3:1, at most 8,294,400 pixels"
    assert rule.describe() == described + ", or auto"
    assert replace(rule, allow_auto=False).describe() == described


def test_a_size_within_every_edge_and_aspect_but_over_the_pixel_cap_is_refused(catalog):
    assert catalog.get("gpt-image-2").parse_size("3840x2160") == (3840, 2160)
    message = refusal(catalog, req(size="3840x2176"))
    assert message.startswith("gpt-image-2 cannot make 3840x2176: it takes any WxH")


def test_sizes_above_2560x1440_warn_as_experimental_and_that_size_itself_does_not(catalog):
    assert validate(catalog, req(size="2560x1440")) == []
    assert validate(catalog, req(size="2576x1440")) == [
        "2576x1440 is above 2560x1440: gpt-image-2 treats such sizes as experimental."
    ]
    assert validate(catalog, req(size="auto")) == []


def test_a_model_of_fixed_sizes_never_warns_of_experimental_sizes(catalog):
    assert not catalog.get("gpt-image-2.6-sunburst").is_experimental_size("1536x1024")
    assert validate(catalog, req(model="gpt-image-2.6-sunburst", size="1536x1024")) == []


def test_auto_background_is_accepted_by_a_model_that_cannot_set_one(catalog):
    assert catalog.get("dall-e-3").backgrounds == ()
    assert validate(catalog, req(model="dall-e-3", quality="hd", background="auto"), custom_endpoint=True)
    message = refusal(catalog, req(model="dall-e-3", quality="hd", background="opaque"), custom_endpoint=True)
    assert message == "dall-e-3 cannot set the background; leave it on auto."


def test_format_and_compression_refusals_say_why(catalog):
    transparent_jpeg = req(background="transparent", output_format="jpeg")
    assert refusal(catalog, transparent_jpeg) == (
        "A transparent background needs png or webp output; jpeg has no transparency."
    )
    assert refusal(catalog, req(compression=50)) == "Compression applies to jpeg and webp only; png is lossless."


@pytest.mark.parametrize("compression", [0, 100])
def test_compression_takes_both_ends_of_its_range(catalog, compression):
    assert validate(catalog, req(output_format="webp", compression=compression)) == []


@pytest.mark.parametrize("compression", [-1, 101])
def test_compression_outside_its_range_is_refused(catalog, compression):
    message = refusal(catalog, req(output_format="jpeg", compression=compression))
    assert message == f"Compression is 0 to 100 percent, not {compression}."


def test_a_prompt_of_exactly_the_models_limit_is_accepted_and_one_more_character_is_not(catalog):
    limit = catalog.get("gpt-image-2").prompt_max
    assert validate(catalog, req(prompt="a" * limit)) == []
    message = refusal(catalog, req(prompt="a" * (limit + 1)))
    assert message == f"The prompt has {limit + 1:,} characters; gpt-image-2 takes at most {limit:,}."


def test_deprecation_warnings_name_the_day_and_the_replacement(catalog):
    assert validate(catalog, req(model="gpt-image-1.5")) == [
        "gpt-image-1.5 is deprecated and shuts down on 2026-12-01. Use gpt-image-2.6-sunburst instead."
    ]
    without_replacement = with_model(catalog, "gpt-image-1.5", replacement="")
    assert validate(without_replacement, req(model="gpt-image-1.5")) == [
        "gpt-image-1.5 is deprecated and shuts down on 2026-12-01."
    ]


def test_a_deprecated_model_without_a_shutdown_day_does_not_warn(catalog):
    undated = with_model(catalog, "gpt-image-2", lifecycle="deprecated", shutdown=None)
    assert validate(undated, req()) == []
    dated_but_active = with_model(catalog, "gpt-image-2", shutdown=date(2027, 1, 1))
    assert validate(dated_but_active, req()) == []


def test_a_shut_down_model_is_refused_naming_its_day_and_replacement(catalog):
    message = refusal(catalog, req(model="dall-e-3", quality="hd"))
    assert message == "dall-e-3 was shut down at OpenAI on 2026-05-12. Use gpt-image-2.6-sunburst instead."
    bare = with_model(catalog, "dall-e-3", shutdown=None, replacement="", lifecycle="shut_down")
    assert refusal(bare, req(model="dall-e-3", quality="hd")) == "dall-e-3 was shut down at OpenAI."


def test_a_shut_down_model_on_a_compatible_server_is_a_warning(catalog):
    warnings = validate(catalog, req(model="dall-e-3", quality="hd"), custom_endpoint=True)
    assert warnings == [
        "dall-e-3 was shut down at OpenAI on 2026-05-12; using it because a compatible server serves it."
    ]


def test_output_tokens_follow_the_shape_and_grow_with_the_pixels(catalog):
    assert catalog.expected_output_tokens("high", (1024, 1024)) == 4160
    assert catalog.expected_output_tokens("high", (1536, 1024)) == 6240
    assert catalog.expected_output_tokens("high", (2048, 2048)) == 4160 * 4
    assert catalog.expected_output_tokens("low", (512, 512)) == 272  # never below the standard size's
    assert catalog.expected_output_tokens("high", (1024, 768)) == 6240  # a small landscape: the other shape's


def test_free_sizes_priced_by_table_scale_with_their_pixels_by_shape(catalog):
    prompt = Decimal(2 * 5) / 1_000_000  # "a cat": 2 prompt tokens at the $5 per million the catalog states
    assert catalog.estimate_cost(req(quality="high", size="2048x2048")) == Decimal("0.211") * 4 + prompt
    assert catalog.estimate_cost(req(quality="high", size="3072x1024")) == Decimal("0.165") * 2 + prompt


def test_a_size_missing_from_a_price_table_is_priced_at_its_most_expensive(catalog):
    partial = with_model(
        catalog, "dall-e-2", per_image={"standard": {"256x256": Decimal("0.016"), "512x512": Decimal("0.018")}}
    )
    request = req(model="dall-e-2", quality="standard", size="1024x1024")
    assert partial.estimate_cost(request) == Decimal("0.018")
    assert catalog.max_cost(req(model="dall-e-2", quality="standard", size="256x256")) == Decimal("0.016")


def test_several_images_share_one_prompt_in_the_estimate(catalog):
    prompt = "p" * 400  # 100 prompt tokens, sent once for the request
    one = req(model="gpt-image-2.6-sunburst", prompt=prompt, n=1)
    three = replace(one, n=3)
    text, image = Decimal(100 * 5), Decimal(1056 * 30)
    assert catalog.estimate_cost(one) == (text + image) / 1_000_000
    assert catalog.estimate_cost(three) == (text + 3 * image) / 1_000_000


def test_the_reservation_bounds_every_image_and_the_costliest_quality(catalog):
    one = req(model="gpt-image-2.6-sunburst", prompt="a cat", quality="low")
    assert catalog.max_cost(one) == (Decimal(5 * 5) + 272 * 30) / 1_000_000
    assert catalog.max_cost(replace(one, n=3)) == 3 * catalog.max_cost(one)
    assert catalog.max_cost(replace(one, quality="high")) == (Decimal(5 * 5) + 4160 * 30) / 1_000_000


def test_auto_quality_is_bounded_by_the_models_costliest_quality(catalog):
    auto = req(model="gpt-image-2.5-sunburst", quality="auto")
    assert catalog.max_cost(auto) == catalog.max_cost(replace(auto, quality="max"))
    assert catalog.max_cost(auto) > catalog.max_cost(replace(auto, quality="high"))
    only_auto = with_model(catalog, "gpt-image-2.6-sunburst", qualities=("auto",))
    assert only_auto.max_cost(replace(auto, model="gpt-image-2.6-sunburst")) > 0


def test_an_auto_size_is_estimated_as_the_larger_standard_size(catalog):
    auto = req(model="gpt-image-2.6-sunburst", size="auto")
    assert catalog.estimate_cost(auto) == catalog.estimate_cost(replace(auto, size="1536x1024"))
    assert catalog.max_cost(auto) == catalog.max_cost(replace(auto, size="1536x1024"))


def test_the_estimate_of_auto_quality_is_that_of_high(catalog):
    auto = req(model="gpt-image-2.6-sunburst", quality="auto")
    assert catalog.estimate_cost(auto) == catalog.estimate_cost(replace(auto, quality="high"))


def test_real_costs_round_up_to_the_next_micro_dollar(catalog):
    flare = req(model="gpt-image-2.6-flare")  # 2.5 dollars per million text tokens
    assert catalog.charge(flare, Usage(1, 0, 0), Decimal(1)).amount == Decimal("0.000003")


def test_a_rate_a_model_does_not_list_costs_nothing(catalog):
    output_only = with_model(catalog, "gpt-image-2.6-sunburst", tokens={"image_out": Decimal(30)})
    request = req(model="gpt-image-2.6-sunburst")
    assert output_only.charge(request, Usage(1000, 1000, 1000), Decimal(1)).amount == Decimal("0.03")
    text_only = with_model(catalog, "gpt-image-2.6-sunburst", tokens={"text_in": Decimal(5)})
    assert text_only.charge(request, Usage(1000, 0, 1000), Decimal(1)).amount == Decimal("0.005")


def test_every_catalog_price_is_read_as_an_exact_decimal(catalog):
    assert catalog.get("gpt-image-2").per_image["medium"] == {"square": Decimal("0.053"), "other": Decimal("0.041")}
    assert catalog.get("gpt-image-2.6-flare").tokens == {
        "text_in": Decimal("2.5"),
        "image_in": Decimal("4.0"),
        "image_out": Decimal("15.0"),
    }


def test_the_model_list_marks_end_of_life_with_the_day(catalog):
    assert catalog.get("gpt-image-2").choice_label(TODAY) == catalog.get("gpt-image-2").label
    assert catalog.get("gpt-image-1.5").choice_label(TODAY).endswith(" · deprecated, ends 01 Dec 2026")
    assert catalog.get("dall-e-3").choice_label(TODAY).endswith(" · shut down at OpenAI")
    assert catalog.get("gpt-image-1.5").choice_label(date(2026, 12, 1)).endswith(" · shut down at OpenAI")


def test_a_form_offers_the_models_own_sizes_or_the_common_ones_its_rule_allows(catalog):
    assert catalog.get("dall-e-3").size_choices() == ["1024x1024", "1792x1024", "1024x1792"]
    offered = catalog.get("gpt-image-2").size_choices()
    assert offered[:3] == ["1024x1024", "1536x1024", "1024x1536"] and "auto" in offered and "3840x2160" in offered
    small = with_model(catalog, "gpt-image-2", size_rule=replace(catalog.get("gpt-image-2").size_rule, max_edge=2048))
    assert "3840x2160" not in small.get("gpt-image-2").size_choices()


def test_edit_capabilities_agree_with_the_installed_sdk():
    """Which models edit, take a markup or an input fidelity: as the openai SDK's edit parameters say."""
    from pathlib import Path

    import openai

    params = (Path(openai.__file__).parent / "types" / "image_edit_params.py").read_text()
    model_doc = params[params.index("    model: Union") : params.index("    n: Optional[int]")]
    markup_doc = params[params.index("    markup: FileTypes") : params.index("    mask: FileTypes")]
    fidelity_doc = params[params.index("    input_fidelity:") : params.index("    markup: FileTypes")]
    models = {m.id: m for m in Catalog.load().models()}
    editing = {m.id for m in models.values() if m.edits and m.family != "offline"}
    assert editing and all(f"`{model}`" in model_doc for model in editing)
    assert not any(models[m].edits for m in ("dall-e-2", "dall-e-3", "gpt-image-1"))  # retired or shut down
    assert all(models[m].edit_inputs == 16 for m in editing) and "up to 16 images" in params
    assert "Supports GPT Image 2.5." in markup_doc
    assert {m for m in editing if models[m].markup} == {m for m in editing if m.startswith("gpt-image-2.5")}
    assert (
        "`high` and `low` on\n    `gpt-image-1.5`" in fidelity_doc
        and "`gpt-image-1-mini` supports only `low`" in fidelity_doc
    )
    assert models["gpt-image-1.5"].input_fidelity == ("high", "low")
    assert models["gpt-image-1-mini"].input_fidelity == ("low",)
    assert all(not models[m].input_fidelity for m in editing - {"gpt-image-1.5", "gpt-image-1-mini"})
