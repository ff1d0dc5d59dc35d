import io

import pytest
from PIL import Image

from imagegen import Catalog, GenerationRequest
from imagegen.providers.base import RenderJob
from imagegen.providers.offline import OfflineProvider

SPEC = Catalog.load().get("offline")


def render(size="1024x1024", fmt="png", background="auto", prompt="a fox", preset="photo", n=1, delay=0.0):
    request = GenerationRequest(
        prompt, preset=preset, model="offline", size=size, quality="auto", n=n, output_format=fmt, background=background
    )
    partials = []
    output = OfflineProvider(delay).render(
        RenderJob(request, prompt, SPEC, "tag", preset), lambda i, b: partials.append(i)
    )
    return output, partials


@pytest.mark.parametrize(
    ("size", "fmt"), [("1024x1024", "png"), ("1536x1024", "jpeg"), ("1024x1536", "webp"), ("400x256", "png")]
)
def test_it_renders_exactly_the_size_and_format_asked(size, fmt):
    output, _ = render(size, fmt)
    picture = Image.open(io.BytesIO(output.images[0].data))
    assert f"{picture.width}x{picture.height}" == size
    assert picture.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]


def test_it_is_deterministic_and_depends_on_prompt_and_preset():
    first, _ = render(prompt="a fox")
    again, _ = render(prompt="a fox")
    other, _ = render(prompt="a wolf")
    styled, _ = render(prompt="a fox", preset="pixel")
    assert first.images[0].data == again.images[0].data
    assert first.images[0].data != other.images[0].data
    assert first.images[0].data != styled.images[0].data


def test_transparent_backgrounds_have_alpha():
    output, _ = render(background="transparent", preset="logo")
    picture = Image.open(io.BytesIO(output.images[0].data))
    assert picture.mode == "RGBA"
    assert picture.getpixel((0, 0))[3] == 0


def test_it_emits_partial_previews_and_n_images():
    output, partials = render(n=3)
    assert partials == [0, 1, 2]
    assert len({img.data for img in output.images}) == 3
    assert "offline" in output.notes[0].lower()
