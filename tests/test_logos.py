"""Vector logos and animations through the whole engine: offline and through the real SDK against the strict
fake; hostile answers kept inert or refused, and settled truthfully."""

import io
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from imagegen import BadImage, GenerationRequest, InvalidRequest
from imagegen.checks import scoped_id
from tests.fakes.openai_server import SVG_AUTHOR_TOKENS


def logo(**kw) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a fox mark", "preset": "photo", "output_format": "svg", **kw})


def stored(studio, key: str) -> bytes:
    library = studio._engine.library
    return library.original(library.record(key))


def stored_object(studio, key: str) -> bytes:
    return studio._engine.library.store.get(key)


def test_an_offline_logo_is_a_real_vector_drawing_kept_with_a_thumbnail_and_its_audit_copy(studio):
    result = studio.generate(logo(), "ann")
    assert result.cost_usd == 0 and result.estimated_cost_usd == 0  # the offline renderer pays no author
    record = studio.image(result.image_key)
    assert record["kind"] == "vector" and record["format"] == "svg" and result.image_key.endswith("original.svg")
    kept = stored(studio, result.image_key)
    root = ET.fromstring(kept)
    assert root.tag.endswith("svg") and root.find("{http://www.w3.org/2000/svg}circle") is not None
    assert b"offline placeholder" in kept
    audit = stored_object(studio, record["audit_key"])  # the drawing as the renderer wrote it
    assert [e.tag for e in ET.fromstring(audit).iter()] == [e.tag for e in root.iter()]
    assert record["sanitised"] == []  # nothing to remove from the offline drawing
    thumb = Image.open(io.BytesIO(studio.thumbnail_bytes(record)))
    assert thumb.format == "WEBP" and max(thumb.size) == 384
    assert studio.download_name(record).endswith(".svg")


def test_an_offline_animation_loops_through_its_frames_at_its_timing(studio):
    result = studio.generate(
        GenerationRequest("a spinner", output_format="gif", frame_count=4, frame_duration_ms=120, size="256x256"), "ann"
    )
    animation = Image.open(io.BytesIO(stored(studio, result.image_key)))
    assert animation.format == "GIF" and animation.n_frames == 4 and animation.size == (256, 256)
    assert animation.info["duration"] == 120 and animation.info["loop"] == 0
    record = studio.image(result.image_key)
    assert record["kind"] == "animation" and "audit_key" not in record
    assert Image.open(io.BytesIO(studio.thumbnail_bytes(record))).size == (256, 256)


def test_a_logo_through_the_sdk_sends_its_author_and_is_charged_for_the_authors_tokens(openai_studio, fake_openai):
    request = logo(model="gpt-image-2.6-flare", quality="low", svg_author="gpt-5.4-mini", svg_effort="low")
    result = openai_studio.generate(request, "ann")
    sent = fake_openai.requests[-1]
    assert sent["output_format"] == "svg" and sent["svg"] == {"model": "gpt-5.4-mini", "reasoning": {"effort": "low"}}
    assert "stream" not in sent and "partial_images" not in sent and "background" not in sent
    usage = result.usage
    written = SVG_AUTHOR_TOKENS["output_tokens"] + SVG_AUTHOR_TOKENS["reasoning_tokens"]  # total says both count
    assert (usage.svg_model, usage.svg_input_tokens, usage.svg_output_tokens) == (
        "gpt-5.4-mini",
        SVG_AUTHOR_TOKENS["input_tokens"],
        written,
    )
    author = openai_studio._engine.catalog.svg.authors["gpt-5.4-mini"]
    image_micros = usage.input_text_tokens * 2.5 + usage.output_tokens * 15
    author_micros = float(SVG_AUTHOR_TOKENS["input_tokens"] * author.text_in + written * author.text_out)
    row = openai_studio._engine.ledger.generation(result.id)
    assert row["actual_micros"] == pytest.approx(image_micros + author_micros, abs=1)
    assert row["actual_micros"] <= row["estimated_micros"]  # what was reserved bounds what was billed


def test_an_animation_through_the_sdk_is_never_streamed_and_is_billed_per_frame(openai_studio, fake_openai):
    request = GenerationRequest(
        "a spinner", model="gpt-image-2.6-flare", quality="low", output_format="gif", frame_count=3
    )
    result = openai_studio.generate(request, "ann")
    sent = fake_openai.requests[-1]
    assert sent["frame_count"] == 3 and "stream" not in sent
    assert result.usage.output_tokens == 3 * 272
    assert Image.open(io.BytesIO(stored(openai_studio, result.image_key))).n_frames == 3


def test_a_hostile_svg_is_kept_inert_with_what_was_removed_and_the_providers_bytes_for_audit(
    openai_studio, fake_openai
):
    fake_openai.default = "hostile_svg"
    result = openai_studio.generate(logo(model="gpt-image-2.6-flare", quality="low"), "ann")
    record = openai_studio.image(result.image_key)
    kept = stored(openai_studio, result.image_key)
    for needle in (b"script", b"onload", b"evil.example", b"foreignObject", b"iframe", b"<image"):
        assert needle not in kept
    assert b"<circle" in kept  # the drawing itself stays
    assert {"onload attribute on svg", "script element", "image element"} <= set(record["sanitised"])
    assert stored_object(openai_studio, record["audit_key"]) == fake_openai.hostile_svg
    row = openai_studio._engine.ledger.generation(result.id)
    assert row["status"] == "committed" and row["actual_micros"] > 0


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (
            b'<!DOCTYPE svg [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><svg xmlns="http://www.w3.org/2000/svg">&b;</svg>',
            "entity",
        ),
        (b"<svg" + b" " * (50 * 1024 * 1024) + b"/>", "MB SVG"),
        (b'<svg xmlns="http://www.w3.org/2000/svg">' + b"<g>" * 5000 + b"</g>" * 5000 + b"</svg>", "nested"),
    ],
    ids=["billion laughs", "fifty megabytes", "deep nesting"],
)
def test_an_svg_that_cannot_be_kept_safely_is_refused_and_settled_as_billed(openai_studio, fake_openai, document, says):
    fake_openai.default, fake_openai.hostile_svg = "hostile_svg", document
    with pytest.raises(BadImage, match=says):
        openai_studio.generate(logo(model="gpt-image-2.6-flare", quality="low", request_id="hostile-one"), "ann")
    assert openai_studio.history().items == []
    row = openai_studio._engine.ledger.generation(scoped_id("ann", "hostile-one"))
    assert row["status"] == "ambiguous" and row["error_code"] == "bad_image" and row["actual_micros"] > 0


def test_a_hostile_animation_of_too_many_frames_is_refused_and_settled_as_billed(openai_studio, fake_openai):
    fake_openai.default = "hostile_gif"
    request = GenerationRequest(
        "a spinner",
        model="gpt-image-2.6-flare",
        quality="low",
        output_format="gif",
        size="1024x1024",
        request_id="loop-one-1",
    )
    with pytest.raises(BadImage, match="more than 16 frames"):
        openai_studio.generate(request, "ann")
    row = openai_studio._engine.ledger.generation(scoped_id("ann", "loop-one-1"))
    assert row["status"] == "ambiguous" and row["actual_micros"] > 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"n": 2}, "one at a time"), ({"background": "transparent"}, "no backdrop"), ({"compression": 10}, "not to svg")],
)
def test_what_the_api_refuses_for_a_logo_is_refused_before_any_call(openai_studio, fake_openai, changes, message):
    with pytest.raises(InvalidRequest, match=message):
        openai_studio.generate(logo(model="gpt-image-2.6-flare", **changes), "ann")
    assert fake_openai.requests == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"output_format": "svg", "n": 2}, "n"),
        ({"output_format": "svg", "stream": True}, "stream"),
        ({"output_format": "gif", "partial_images": 1}, "partial_images"),
        ({"output_format": "gif", "frame_count": 17}, "frame_count"),
        ({"output_format": "png", "frame_count": 4}, "frame_count"),
        ({"output_format": "svg", "output_compression": 50}, "output_compression"),
        ({"output_format": "gif", "background": "transparent"}, "background"),
        ({"output_format": "png", "svg": {"model": "gpt-5.5"}}, "svg"),
        ({"output_format": "svg", "svg": {}}, "svg.model"),
    ],
)
def test_the_fake_refuses_what_the_sdk_documents_as_refused_for_these_formats(fake_openai, body, param):
    from tests.test_contract import post

    status, answer = post(fake_openai, {"model": "gpt-image-2.6-flare", "prompt": "a fox", **body})
    assert status == 400 and answer["error"]["param"] == param and answer["error"]["type"] == "invalid_request_error"


def test_admin_sees_each_generations_kind_of_asset_beside_its_cost(studio):
    studio.generate(GenerationRequest("a fox"), "ann")
    studio.generate(logo(), "ann")
    studio.generate(GenerationRequest("a spinner", output_format="gif", frame_count=2, size="256x256"), "ann")
    recent = studio.recent_generations(10)
    assert sorted(recent["kind"]) == ["animation", "logo or icon", "picture"]
    assert "cost_usd" in recent.columns


def test_an_edit_can_make_a_logo_and_sends_the_author_as_multipart_fields(openai_studio, fake_openai):
    picture = openai_studio.generate(GenerationRequest("a fox", model="gpt-image-2.6-flare", quality="low"), "ann")
    edit = openai_studio.prepare_edit([openai_studio.starting_image(picture.image_key)], parent_key=picture.image_key)
    request = logo(prompt="turn it into a flat mark", model="gpt-image-2.6-flare", quality="low", svg_author="gpt-5.5")
    result = openai_studio.generate(request, "ann", edit=edit)
    sent = fake_openai.requests[-1]
    assert sent["_path"].endswith("/images/edits") and sent["output_format"] == "svg"
    assert sent["svg[model]"] == "gpt-5.5"
    record = openai_studio.image(result.image_key)
    assert record["kind"] == "vector" and record["parent_key"] == picture.image_key
