"""The real openai SDK over HTTP against the protocol-level fake in tests/fakes/."""

import io

import pytest
from PIL import Image

from imagegen import (
    BadImage,
    ContentRejected,
    GenerationRequest,
    InvalidRequest,
    ModelUnavailable,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from imagegen.checks import scoped_id
from tests.engine_parts import open_reservations


def gpt(**kw) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a lighthouse", "model": "gpt-image-2.6-sunburst", "quality": "medium", **kw})


def dalle(**kw) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a lighthouse", "model": "dall-e-3", "quality": "standard", **kw})


def test_gpt_image_models_stream_partials_and_the_final_image(openai_studio, fake_openai):
    stages, partials = [], []

    def progress(stage, details):
        stages.append(stage)
        if stage == "partial":
            partials.append(details["image"])

    result = openai_studio.generate(gpt(size="1536x1024", output_format="webp"), "ann", progress)
    sent = fake_openai.requests[-1]
    assert sent["stream"] is True and sent["partial_images"] == 2
    assert sent["prompt"] == result.directed_prompt and sent["output_format"] == "webp"
    assert len(sent["safety_identifier"]) == 32 and "ann" not in sent["safety_identifier"]
    assert len(partials) == 2
    assert [s for s in stages if s != "partial"] == ["directing", "reserving", "rendering", "verifying", "saving"]
    kept = openai_studio._engine.library.original(openai_studio._engine.library.record(result.image_key))
    assert Image.open(io.BytesIO(kept)).size == (1536, 1024)
    # usage: the prompt's text tokens at $5/M and 1584 image tokens (medium, 1536x1024) at $30/M
    text_tokens = result.usage.input_text_tokens
    assert text_tokens == -(-len(result.directed_prompt) // 4) and result.usage.output_tokens == 1584
    expected_micros = text_tokens * 5 + 1584 * 30
    assert result.cost_usd == pytest.approx(expected_micros / 1e6)
    row = openai_studio._engine.ledger.generation(result.id)
    assert row["status"] == "committed" and row["actual_micros"] == expected_micros and row["output_tokens"] == 1584
    assert row["actual_micros"] <= row["estimated_micros"]  # the reservation bounds the real cost


def test_url_answers_are_downloaded_at_once_with_the_revised_prompt(openai_studio, fake_openai):
    fake_openai.default = "url"
    result = openai_studio.generate(dalle(), "ann")
    assert result.revised_prompt.startswith("REVISED")
    assert any("compatible server" in w for w in result.warnings)
    record = openai_studio._engine.library.record(result.image_key)
    assert Image.open(io.BytesIO(openai_studio._engine.library.original(record))).size == (1024, 1024)
    assert record["revised_prompt"] == result.revised_prompt


def test_an_expired_url_is_reported_and_charged_as_ambiguous(openai_studio, fake_openai):
    fake_openai.default = "url"
    fake_openai.url_ttl = -1
    with pytest.raises(BadImage, match="403.*expired"):
        openai_studio.generate(dalle(request_id="expired-url-1"), "ann")
    assert openai_studio._engine.ledger.generation(scoped_id("ann", "expired-url-1"))["status"] == "ambiguous"
    assert openai_studio.history().items == []


def test_a_429_is_retried_by_the_sdk_and_then_succeeds(openai_studio, fake_openai):
    fake_openai.then("429")
    result = openai_studio.generate(gpt(), "ann")
    assert result.status == "succeeded"
    assert len(fake_openai.requests) == 2


@pytest.mark.parametrize(
    ("behaviour", "error", "status"),
    [
        ("429", RateLimited, "refunded"),
        ("500", ProviderUnavailable, "refunded"),
        ("content_policy", ContentRejected, "refunded"),
        ("model_not_found", ModelUnavailable, "refunded"),
    ],
)
def test_provider_failures_become_the_engines_errors_and_refunds(openai_studio, fake_openai, behaviour, error, status):
    fake_openai.default = behaviour
    with pytest.raises(error) as raised:
        openai_studio.generate(gpt(request_id=f"fail-{behaviour}"), "ann")
    assert not raised.value.charged
    assert "not charged" in raised.value.message or behaviour == "model_not_found"
    row = openai_studio._engine.ledger.generation(scoped_id("ann", f"fail-{behaviour}"))
    assert row["status"] == status and row["error_code"] == raised.value.code
    assert openai_studio.allowance("ann").images_left == 5
    assert openai_studio.check_invariants() == []


def test_each_retry_is_reported_with_its_attempt_wait_and_reason(openai_studio, fake_openai):
    fake_openai.then("429")
    fake_openai.then("500")
    reports = []
    result = openai_studio.generate(gpt(), "ann", lambda stage, details: reports.append((stage, details)))
    assert result.status == "succeeded"
    retries = [details for stage, details in reports if stage == "retrying"]
    assert retries == [
        {"attempt": 2, "attempts": 3, "wait_s": 0.02, "reason": "the image service is rate limiting us"},
        {"attempt": 3, "attempts": 3, "wait_s": 1.0, "reason": "the image service had an error (500)"},
    ]
    stages = [stage for stage, _ in reports]
    assert stages.index("rendering") < stages.index("retrying") < stages.index("saving")


def test_a_429_is_retried_at_most_three_times_in_all(openai_studio, fake_openai):
    fake_openai.default = "429"
    with pytest.raises(RateLimited):
        openai_studio.generate(gpt(), "ann")
    assert len(fake_openai.requests) == 3


def test_a_slow_answer_past_the_timeout_is_ambiguous_and_never_sent_twice(openai_studio, fake_openai):
    fake_openai.default = "slow"
    fake_openai.slow_seconds = 1.5
    with pytest.raises(ProviderTimeout) as raised:
        openai_studio.generate(dalle(request_id="slow-request"), "ann")
    assert raised.value.charged
    assert len(fake_openai.requests) == 1  # a second request could be billed a second time
    row = openai_studio._engine.ledger.generation(scoped_id("ann", "slow-request"))
    assert row["status"] == "ambiguous" and row["actual_micros"] == row["estimated_micros"] == 40000
    allowance = openai_studio.allowance("ann")
    assert allowance.images_left == 5 and allowance.spent_micros == 40000
    assert openai_studio.check_invariants() == []


@pytest.mark.parametrize(("behaviour", "message"), [("wrong_size", "512x512"), ("not_image", "not a readable image")])
def test_images_that_are_not_what_was_asked_are_never_kept(openai_studio, fake_openai, behaviour, message):
    fake_openai.default = behaviour
    with pytest.raises(BadImage, match=message):
        openai_studio.generate(gpt(request_id=f"bad-{behaviour}"), "ann")
    assert openai_studio.history().items == []
    assert openai_studio._engine.spool.pending() == []
    row = openai_studio._engine.ledger.generation(scoped_id("ann", f"bad-{behaviour}"))
    # billed as the answer's usage says (1056 output tokens at $30/M and the prompt's), not the reserved bound
    assert row["status"] == "ambiguous" and row["error_code"] == "bad_image"
    assert 1056 * 30 < row["actual_micros"] < row["estimated_micros"]
    assert row["render_ms"] is not None and row["total_ms"] is not None


def test_a_shut_down_model_at_openai_is_refused_before_any_call(data_dir, fake_openai):
    from imagegen import Settings, Studio

    studio = Studio(Settings(data_dir=data_dir, provider="openai", openai_api_key="sk-test"))
    with pytest.raises(InvalidRequest, match="shut down"):
        studio.generate(dalle(), "ann")
    assert fake_openai.requests == []
    assert open_reservations(studio._engine.db) == [] and studio._engine.db.query("SELECT * FROM generations") == []


def test_azure_goes_through_the_same_sdk_to_its_deployment_path(azure_studio, fake_openai):
    studio = azure_studio
    result = studio.generate(gpt(model="gpt-image-2.6-flare"), "ann")
    assert result.provider == "azure" and result.status == "succeeded"
    assert fake_openai.requests[-1]["prompt"] == result.directed_prompt
    assert fake_openai.requests[-1]["_path"].startswith("/openai/deployments/gpt-image-2.6-flare/images/generations")


def test_secrets_are_never_logged_or_shown(openai_studio, fake_openai, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    fake_openai.default = "500"
    with pytest.raises(ProviderUnavailable) as raised:
        openai_studio.generate(gpt(), "ann")
    assert "sk-test" not in raised.value.message
    assert "sk-test" not in caplog.text
    assert "sk-test" not in repr(openai_studio._engine.settings)
