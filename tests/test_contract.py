"""The fake OpenAI server holds the published contract, and the catalog asks only for what it allows."""

import json
import urllib.error
import urllib.request
from datetime import date

import pytest

from imagegen import Catalog, GenerationRequest
from imagegen.catalog import ModelSpec
from imagegen.pipeline import user_tag
from imagegen.providers import RenderJob
from imagegen.providers.openai_images import OpenAIImages


def post(fake, body, key="sk-test"):
    request = urllib.request.Request(
        fake.base_url + "/images/generations",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **({"authorization": f"Bearer {key}"} if key else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            payload = answer.read()
            if answer.headers.get_content_type() == "text/event-stream":
                return answer.status, payload.decode()
            return answer.status, json.loads(payload)
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


GPT = {"model": "gpt-image-2.6-flare", "prompt": "a fox"}
REFUSED = [
    ({**GPT, "response_format": "b64_json"}, "response_format"),
    ({**GPT, "style": "vivid"}, "style"),
    ({**GPT, "quality": "hd"}, "quality"),
    ({**GPT, "n": 11}, "n"),
    ({"model": "dall-e-3", "prompt": "a fox", "n": 2}, "n"),
    ({"model": "gpt-image-2", "prompt": "a fox", "size": "1000x1000"}, "size"),
    ({"model": "gpt-image-1.5", "prompt": "a fox", "size": "1536x864"}, "size"),
    ({**GPT, "background": "transparent", "output_format": "jpeg"}, "background"),
    ({**GPT, "output_compression": 50, "output_format": "png"}, "output_compression"),
    ({"model": "dall-e-3", "prompt": "a fox", "output_format": "png"}, "output_format"),
    ({"model": "dall-e-2", "prompt": "a fox", "stream": True}, "stream"),
    ({**GPT, "partial_images": 5, "stream": True}, "partial_images"),
    ({**GPT, "colour": "red"}, "colour"),
    ({"model": "gpt-image-2.6-flare"}, "prompt"),
    ({"model": "dall-e-2", "prompt": "x" * 1001}, "prompt"),
    ({**GPT, "n": "2"}, "n"),
    ({"model": "gpt-image-2", "prompt": "a fox", "size": "1024x3088"}, "size"),
    ({**GPT, "quality": "xhigh"}, "quality"),
]


@pytest.mark.parametrize(("body", "param"), REFUSED, ids=[p for _, p in REFUSED])
def test_the_fake_refuses_what_the_api_refuses_with_its_error_body(fake_openai, body, param):
    status, answer = post(fake_openai, body)
    assert status == 400, answer
    error = answer["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["code"]


def test_the_fake_asks_for_the_api_key(fake_openai):
    status, answer = post(fake_openai, GPT, key="")
    assert status == 401 and "API key" in answer["error"]["message"]
    status, answer = post(fake_openai, GPT, key="sk-wrong-key-1234")
    assert status == 401 and answer["error"]["code"] == "invalid_api_key"
    assert "sk-wrong-key-1234" not in answer["error"]["message"]


def test_the_fake_answers_the_quality_and_size_it_used_never_auto(fake_openai):
    status, answer = post(fake_openai, {**GPT, "quality": "auto", "size": "auto"})
    assert status == 200
    assert answer["quality"] == "high" and answer["size"] == "1024x1024"
    assert answer["usage"]["output_tokens"] == 4160


def test_the_fake_accepts_both_extreme_aspects_of_free_sizes(fake_openai):
    for size in ("1024x3072", "3072x1024"):
        assert post(fake_openai, {"model": "gpt-image-2", "prompt": "a fox", "size": size, "quality": "low"})[0] == 200


def _requests_the_catalog_allows(spec: ModelSpec) -> list[GenerationRequest]:
    base = {"prompt": "a fox", "model": spec.id, "quality": spec.default_quality, "size": spec.default_size}
    sizes = list(spec.sizes) or ["1024x1024", "1024x3072", "3072x1024", "3840x2160", "1536x864", "auto"]
    wanted = [GenerationRequest(**{**base, "size": s}) for s in sizes]
    wanted += [GenerationRequest(**{**base, "quality": q}) for q in spec.qualities]
    wanted += [GenerationRequest(**{**base, "output_format": f}) for f in spec.formats]
    wanted.append(GenerationRequest(**{**base, "n": spec.n_max}))
    if "transparent" in spec.backgrounds:
        wanted.append(GenerationRequest(**{**base, "background": "transparent"}))
    if "webp" in spec.formats:
        wanted.append(GenerationRequest(**{**base, "output_format": "webp", "compression": 40}))
    if "gif" in spec.formats:
        wanted += [GenerationRequest(**{**base, "output_format": "gif", "frame_count": f}) for f in (2, 16)]
        wanted.append(GenerationRequest(**{**base, "output_format": "gif", "frame_duration_ms": 655_350}))
    if "svg" in spec.formats:
        svg = {**base, "output_format": "svg"}
        wanted += [
            GenerationRequest(**svg, svg_author=a, svg_effort=e)
            for a in Catalog.load().svg.authors
            for e in ("", "max")
        ]
    return wanted


@pytest.mark.parametrize("spec", [m for m in Catalog.load().models() if m.family != "offline"], ids=lambda m: m.id)
def test_everything_the_catalog_offers_is_accepted_by_the_contract(fake_openai, openai_settings, spec):
    """A catalog edit the API would refuse fails here: every size, quality, format and n it offers is sent
    through the provider's own request building to the strict fake."""
    from imagegen.providers.openai_images import make_client

    client, sent, _ = make_client(openai_settings)
    provider = OpenAIImages(client, sent=sent)
    catalog = Catalog.load()
    for request in _requests_the_catalog_allows(spec):
        catalog.validate(request, request.prompt, custom_endpoint=True, today=date(2026, 1, 1))
        params = provider._params(RenderJob(request, request.prompt, spec, user_tag("ann")))
        if spec.streams_partials and request.kind == "picture":  # an animation or a logo never streams
            params.update(stream=True, partial_images=2)
        status, answer = post(fake_openai, params)
        assert status == 200, (request, answer)


def test_the_default_model_uses_documented_sizes_and_qualities():
    spec = Catalog.load().get("gpt-image-2.6-flare")
    assert spec.default_size in ("1024x1024", "1536x1024", "1024x1536", "auto")
    assert spec.default_quality in ("low", "medium", "high", "auto")
    assert "xhigh" not in spec.qualities and spec.size_rule is None  # unconfirmed for 2.6
