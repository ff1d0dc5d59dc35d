import io
import json
from dataclasses import replace

import pytest
from PIL import Image

from imagegen import (
    Forbidden,
    GenerationRequest,
    ImagegenError,
    InvalidRequest,
    LimitReached,
    Settings,
    StorageError,
    Studio,
)
from imagegen.checks import scoped_id
from imagegen.studio import ETA_HISTORY


def test_a_generation_keeps_the_image_its_thumbnail_and_full_metadata(studio, data_dir):
    result = studio.generate(GenerationRequest("a red bicycle", preset="cinematic", size="1536x1024"), "ann")
    record = studio._engine.library.record(result.image_key)
    original = Image.open(io.BytesIO(studio._engine.library.original(record)))
    thumb = Image.open(io.BytesIO(studio._engine.library.thumbnail(record)))
    assert original.size == (1536, 1024)
    assert thumb.format == "WEBP" and max(thumb.size) == 384
    stored = json.loads((data_dir / "images" / record["record_key"]).read_text())
    for field in (
        "user",
        "created_at",
        "prompt",
        "directed_prompt",
        "revised_prompt",
        "preset",
        "model",
        "size",
        "quality",
        "format",
        "cost_usd",
        "usage",
        "timings_ms",
        "id",
        "request_id",
        "key",
        "thumb_key",
    ):
        assert field in stored, field
    assert stored["directed_prompt"] == result.directed_prompt
    assert set(stored["timings_ms"]) >= {"direct", "reserve", "render", "verify"}
    assert not (data_dir / "spool" / result.id).exists()
    row = studio._engine.ledger.generation(result.id)
    assert row["status"] == "committed" and json.loads(row["image_keys"]) == [result.image_key]
    assert row["render_ms"] is not None and row["store_ms"] is not None


def test_n_images_are_kept_separately(studio):
    result = studio.generate(GenerationRequest("a fox", n=3), "ann")
    assert len(result.image_keys) == 3 and len(set(result.image_keys)) == 3
    assert studio.allowance("ann").images_used == 3


def test_presets_default_the_background_and_format_rules_hold(studio):
    logo = studio.generate(GenerationRequest("acme", preset="logo"), "ann")
    assert logo.background == "transparent"
    picture = Image.open(io.BytesIO(studio._engine.library.original(studio._engine.library.record(logo.image_key))))
    assert picture.mode == "RGBA"
    jpeg_logo = studio.plan(GenerationRequest("acme", preset="logo", output_format="jpeg"))
    assert jpeg_logo.request.background == "auto"
    with pytest.raises(InvalidRequest, match="png or webp"):
        studio.plan(GenerationRequest("acme", background="transparent", output_format="jpeg"))


@pytest.mark.parametrize(
    ("request_", "user", "message"),
    [
        (GenerationRequest(""), "ann", "Write a prompt"),
        (GenerationRequest(" \u200b\x00\x1b[31m "), "ann", "Write a prompt"),
        (GenerationRequest("a fox", size="12x12"), "ann", "cannot make"),
        (GenerationRequest("a fox", output_format="tiff"), "ann", "not one of"),
        (GenerationRequest("a fox", request_id="../../etc"), "ann", "request id"),
        (GenerationRequest("a fox", model="gpt-image-2"), "ann", "needs a provider"),
        (GenerationRequest("a fox"), "  ", "user name is required"),
        (GenerationRequest("a fox"), "x" * 201, "at most 200"),
    ],
)
def test_bad_input_gets_a_clear_message_and_changes_nothing(studio, data_dir, request_, user, message):
    with pytest.raises(InvalidRequest, match=message):
        studio.generate(request_, user)
    assert studio._engine.db.query("SELECT COUNT(*) FROM generations")[0][0] == 0
    assert not (data_dir / "images").exists() and not (data_dir / "spool").exists()


def test_the_plan_shows_the_prompt_cost_and_warnings_before_spending(openai_studio):
    plan = openai_studio.plan(GenerationRequest("a car", model="gpt-image-1-mini", quality="high", size="1536x1024"))
    assert plan.directed.text.startswith("a car, professional photograph")
    assert float(plan.estimated_cost) == pytest.approx(0.052)
    assert "2026-12-01" in plan.warnings[0]
    assert openai_studio._engine.db.query("SELECT COUNT(*) FROM generations")[0][0] == 0


def test_the_quota_stops_generation_before_the_provider_is_called(offline_settings):
    studio = Studio(Settings(**{**offline_settings.__dict__, "daily_quota": 1}))
    studio.generate(GenerationRequest("one"), "ann")
    with pytest.raises(LimitReached, match="Daily image quota reached"):
        studio.generate(GenerationRequest("two"), "ann")
    studio.generate(GenerationRequest("three"), "bob")
    assert len(studio.history().items) == 2


def test_an_unexpected_render_failure_settles_the_reservation(offline_settings):
    class Broken:
        name, label = "broken", "broken"

        def render(self, job, on_partial):
            raise RuntimeError("boom")

    studio = Studio(offline_settings, provider=Broken())
    with pytest.raises(Exception, match="RuntimeError"):
        studio.generate(GenerationRequest("a fox", request_id="broken-render"), "ann")
    assert studio._engine.ledger.generation(scoped_id("ann", "broken-render"))["status"] == "ambiguous"
    assert studio.check_invariants() == []


def test_a_spool_that_cannot_keep_the_image_refuses_before_spending(studio, data_dir):
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "spool").write_text("a file where the spool folder should be")
    calls = []
    studio._engine.provider.render = lambda job, on_partial: calls.append(job)
    with pytest.raises(StorageError, match="Nothing was charged") as raised:
        studio.generate(GenerationRequest("a fox", request_id="unsaveable"), "ann")
    assert not raised.value.charged and calls == []
    assert studio._engine.db.query("SELECT COUNT(*) FROM generations")[0][0] == 0


def test_the_face_says_who_may_delete_and_refills_the_form_that_made_an_image(offline_settings):
    studio = Studio(Settings(**{**offline_settings.__dict__, "auth": "oidc", "admins": ("boss@example.com",)}))
    result = studio.generate(GenerationRequest("a fox", preset="anime", size="1536x1024", raw=True), "ann")
    record = studio.image(result.image_key)
    boss = studio.sign_in({"iss": "https://idp", "sub": "b1", "email": "boss@example.com", "email_verified": True})
    assert boss.is_admin and boss.user == "boss@example.com"
    assert studio.may_delete(record, "ann") and studio.may_delete(record, "boss@example.com")
    assert not studio.may_delete(record, "bob")
    with pytest.raises(Forbidden):
        studio.delete_image(result.image_key, "bob")
    prefill = studio.prefill_from(record)  # the form's fields: the request's, and the kind of asset
    assert prefill["kind"] == "picture" and "frames" not in prefill
    again = GenerationRequest.from_dict(prefill)
    assert studio.plan(again).directed.text == result.directed_prompt and again.size == "1536x1024"
    assert studio.count_images() == 1 and studio.gallery_choices("preset") == ["anime"]


def test_the_eta_comes_from_three_comparable_renders_in_the_log(studio):
    fox = GenerationRequest("a fox")
    for count in range(ETA_HISTORY):
        assert studio.eta_seconds(fox) is None  # too little history to say
        studio.generate(replace(fox, request_id=f"fox-request-{count}"), "ann")
    assert studio.eta_seconds(fox) is not None
    assert studio.eta_seconds(replace(fox, prompt="a cat")) is not None  # the prompt does not matter
    for different in ({"quality": "low"}, {"size": "1536x1024"}, {"n": 2}):
        assert studio.eta_seconds(replace(fox, **different)) is None


def test_each_record_keeps_what_remakes_its_image(studio):
    result = studio.generate(
        GenerationRequest("a fox", preset="cinematic", lighting="golden hour", camera="wide angle lens", n=2), "ann"
    )
    first, second = (studio.image(key) for key in result.image_keys)
    assert (first["index"], second["index"]) == (0, 1)
    assert first["lighting"] == "golden hour" and first["camera"] == "wide angle lens"
    assert first["additions"] and all(len(pair) == 2 for pair in first["additions"])
    assert first["request_id"] == result.id and first["created_at"].endswith("+00:00")


def test_a_resubmitted_request_tells_the_first_result_again_without_a_charge(studio):
    request = GenerationRequest("a fox", size="1536x1024", quality="high", n=2, request_id="told-twice")
    first = studio.generate(request, "ann")
    again = studio.generate(request, "ann")
    same = ("id", "user", "prompt", "directed_prompt", "preset", "model", "size", "quality", "n", "output_format")
    assert [getattr(again, name) for name in same] == [getattr(first, name) for name in same]
    assert (again.image_keys, again.cost_usd, again.provider) == (first.image_keys, first.cost_usd, first.provider)
    assert again.created_at <= first.created_at  # when it was asked for: reserved just before its answer
    assert again.warnings == ["Already generated: this is the first result, not a new charge."]
    assert studio.allowance("ann").images_used == 2


def test_a_shared_link_names_an_image_by_its_short_id_and_older_links_still_open(studio):
    key = studio.generate(GenerationRequest("a fox"), "ann").image_key
    link = studio.link_for(key)
    assert link == studio.image(key)["id"] and "/" not in link and len(link) < 40
    assert studio.key_for_link(link) == key
    assert studio.key_for_link(key) == key  # a link made before carried the key itself
    assert studio.key_for_link("no-such-image-0") == "no-such-image-0"  # opening it says it is gone
    with pytest.raises(ImagegenError, match="No image at"):
        studio.image(studio.key_for_link("no-such-image-0"))


def test_an_animation_is_refilled_with_its_kind_frames_and_timing(studio):
    result = studio.generate(
        GenerationRequest("a spinner", output_format="gif", frame_count=5, frame_duration_ms=70, size="256x256"), "ann"
    )
    prefill = studio.prefill_from(studio.image(result.image_key))
    assert (prefill["kind"], prefill["frames"], prefill["frame_ms"], prefill["output_format"]) == (
        "animation", 5, 70, "gif",
    )  # fmt: skip
