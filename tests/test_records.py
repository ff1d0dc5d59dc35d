"""What a generation keeps about each image, and what it returns: every field, with its value."""

import pytest

from imagegen import GenerationRequest, Usage
from imagegen.ledger import to_usd


@pytest.fixture
def two_webps(openai_studio):
    request = GenerationRequest(
        "a fox in the snow",
        model="gpt-image-2.6-sunburst",
        size="1536x1024",
        quality="low",
        n=2,
        output_format="webp",
        compression=50,
        background="opaque",
    )
    return openai_studio, openai_studio.generate(request, "ann")


def test_each_image_record_holds_the_whole_request_and_its_share_of_the_cost(two_webps):
    studio, result = two_webps
    records = [studio.image(key) for key in result.image_keys]
    charged = studio.allowance("ann").spent_micros
    for index, record in enumerate(records):
        assert record["index"] == index and record["n"] == 2
        assert (record["provider"], record["model"], record["size"]) == (
            "openai",
            "gpt-image-2.6-sunburst",
            "1536x1024",
        )
        assert (record["width"], record["height"]) == (1536, 1024)
        assert (record["format"], record["background"], record["compression"]) == ("webp", "opaque", 50)
        assert record["bytes"] == len(studio.image_bytes(record))
        assert record["cost_usd"] == pytest.approx(result.cost_usd / 2)
        assert record["estimated_cost_usd"] == result.estimated_cost_usd > 0
        assert record["usage"] == {
            "input_text_tokens": result.usage.input_text_tokens,
            "input_image_tokens": 0,
            "output_tokens": result.usage.output_tokens,
        }
    assert to_usd(charged) == result.cost_usd


def test_the_result_says_what_was_asked_made_and_charged(two_webps):
    studio, result = two_webps
    assert result.user == "ann" and result.status == "succeeded" and result.provider == "openai"
    assert (result.preset, result.model, result.size, result.quality, result.n, result.output_format) == (
        "photo",
        "gpt-image-2.6-sunburst",
        "1536x1024",
        "low",
        2,
        "webp",
    )
    assert result.background == "opaque" and len(result.image_keys) == 2
    assert result.additions and result.directed_prompt.startswith("a fox in the snow")
    assert isinstance(result.usage, Usage) and result.usage.output_tokens > 0
    assert result.cost_usd > 0 and result.estimated_cost_usd > 0 and result.created_at
    assert {"spool", "render", "total"} <= set(result.timings_ms)
    assert result.warnings == [] and result.revised_prompt is None


def test_a_revised_prompt_and_the_plans_warnings_are_kept(openai_studio, fake_openai):
    fake_openai.then("url")
    request = GenerationRequest("a lighthouse", model="dall-e-3", quality="hd", output_format="png")
    result = openai_studio.generate(request, "ann")
    assert result.revised_prompt.startswith("REVISED ")
    assert openai_studio.image(result.image_key)["revised_prompt"] == result.revised_prompt
    assert result.warnings and "shut down at OpenAI" in result.warnings[0]
