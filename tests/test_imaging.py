"""Checking what a provider sent before it is kept, and the thumbnails the gallery shows."""

import io
import struct
import zlib

import pytest
from PIL import Image

from imagegen.errors import BadImage
from imagegen.imaging import DISPLAY_EDGE, MAX_PIXELS, THUMBNAIL_EDGE, for_display, make_thumbnail, verify_image


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a size its (tiny) data does not have: what a hostile answer looks like."""
    data = bytearray(encoded(Image.new("1", (8, 8)), "PNG"))
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


def test_a_good_image_comes_back_loaded_at_its_size():
    data = encoded(Image.new("RGB", (64, 32), "navy"), "PNG")
    image = verify_image(data, "png", (64, 32))
    assert image.size == (64, 32)
    assert image.getpixel((0, 0)) == (0, 0, 128)


@pytest.mark.parametrize("fmt,name", [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp")])
def test_each_format_the_api_makes_is_recognised_by_its_content(fmt, name):
    data = encoded(Image.new("RGB", (16, 16), "red"), fmt)
    assert verify_image(data, name, (16, 16)).format == fmt


def test_without_an_expected_size_any_size_is_accepted():
    data = encoded(Image.new("RGB", (17, 9)), "PNG")
    assert verify_image(data, "png", None).size == (17, 9)


def test_an_empty_answer_is_refused_as_possibly_charged():
    with pytest.raises(BadImage, match=r"^The provider sent an empty image\. You may have been charged; try again\.$"):
        verify_image(b"", "png", (16, 16))


def test_bytes_that_are_no_image_are_named_as_such():
    with pytest.raises(
        BadImage, match=r"^The provider sent data that is not a readable image \(UnidentifiedImageError\)\.$"
    ):
        verify_image(b"<html>rate limited</html>", "png", None)


def test_a_truncated_image_is_refused_when_its_pixels_are_read():
    data = encoded(Image.effect_noise((256, 256), 64).convert("RGB"), "PNG")
    with pytest.raises(BadImage, match="not a readable image"):
        verify_image(data[: len(data) // 2], "png", (256, 256))


@pytest.mark.parametrize(
    "fmt,expected,found", [("PNG", "jpeg", "png"), ("JPEG", "png", "jpeg"), ("WEBP", "png", "webp")]
)
def test_the_wrong_format_is_refused_naming_both(fmt, expected, found):
    data = encoded(Image.new("RGB", (16, 16)), fmt)
    with pytest.raises(BadImage, match=f"^The provider sent a {found} image where {expected} was asked for\\.$"):
        verify_image(data, expected, (16, 16))


def test_a_format_the_api_never_makes_is_named_in_lower_case():
    data = encoded(Image.new("P", (16, 16)), "GIF")
    with pytest.raises(BadImage, match=r"^The provider sent a gif image where png was asked for\.$"):
        verify_image(data, "png", (16, 16))


def test_the_wrong_size_is_refused_naming_both():
    data = encoded(Image.new("RGB", (1024, 1536)), "PNG")
    with pytest.raises(BadImage, match=r"^The provider sent a 1024x1536 image where 1536x1024 was asked for\.$"):
        verify_image(data, "png", (1536, 1024))


def test_a_header_larger_than_any_model_makes_is_refused_before_decoding():
    with pytest.raises(BadImage, match=r"^The provider sent a 7681x4320 image, larger than any model makes\.$"):
        verify_image(png_claiming(7681, 4320), "png", None)


def test_the_largest_accepted_size_is_read_past_the_header():
    # 7680x4320 is exactly the cap: the header passes and the (fake) pixel data is what fails.
    assert MAX_PIXELS == 7680 * 4320
    with pytest.raises(BadImage, match="not a readable image"):
        verify_image(png_claiming(7680, 4320), "png", None)


@pytest.mark.parametrize("edge", [10_000, 20_000])  # Pillow warns past 89 Mpx and refuses past twice that
def test_a_decompression_bomb_is_refused_without_opening_it(edge):
    with pytest.raises(BadImage, match=r"^The provider sent an image too large to open safely\.$"):
        verify_image(png_claiming(edge, edge), "png", None)


@pytest.mark.parametrize(
    "size,thumb", [((1536, 1024), (384, 256)), ((1024, 1536), (256, 384)), ((1024, 1024), (384, 384))]
)
def test_a_thumbnail_keeps_the_shape_with_its_long_edge_at_the_gallery_size(size, thumb):
    data = make_thumbnail(Image.new("RGB", size, "teal"))
    with Image.open(io.BytesIO(data)) as small:
        assert small.format == "WEBP"
        assert small.size == thumb
        assert max(small.size) == THUMBNAIL_EDGE


def test_a_small_image_is_not_enlarged():
    with Image.open(io.BytesIO(make_thumbnail(Image.new("RGB", (100, 50))))) as small:
        assert small.size == (100, 50)


@pytest.mark.parametrize("size,thumb", [((3000, 2), (300, 1)), ((2, 3000), (1, 300))])
def test_a_custom_edge_is_honoured_and_a_sliver_keeps_one_pixel(size, thumb):
    with Image.open(io.BytesIO(make_thumbnail(Image.new("RGB", size), edge=300))) as small:
        assert small.size == thumb


def test_transparency_survives_in_the_thumbnail():
    image = Image.new("RGBA", (800, 800), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 400, 800))
    with Image.open(io.BytesIO(make_thumbnail(image))) as small:
        assert small.mode == "RGBA"
        assert small.getpixel((300, 100))[3] == 0
        assert small.getpixel((10, 100))[3] == 255


def test_a_palette_image_with_a_transparent_colour_keeps_it():
    image = Image.new("P", (64, 64), 0)
    image.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    image.info["transparency"] = 0
    image.paste(1, (0, 0, 32, 64))
    with Image.open(io.BytesIO(make_thumbnail(image))) as small:
        assert small.mode == "RGBA"
        assert small.getpixel((48, 10))[3] == 0
        assert small.getpixel((8, 10))[3] == 255


@pytest.mark.parametrize("mode", ["L", "P", "CMYK"])
def test_opaque_images_of_other_modes_become_rgb(mode):
    with Image.open(io.BytesIO(make_thumbnail(Image.new(mode, (40, 40))))) as small:
        assert small.mode == "RGB"


def test_an_image_with_its_own_alpha_band_becomes_rgba():
    with Image.open(io.BytesIO(make_thumbnail(Image.new("LA", (40, 40), (0, 0))))) as small:
        assert small.mode == "RGBA"
        assert small.getpixel((5, 5))[3] == 0


def made(size: tuple[int, int], fmt: str, mode: str = "RGB") -> bytes:
    return encoded(Image.new(mode, size, (30, 90, 200, 128)[: len(mode)] if mode != "P" else 3), fmt)


def streamlit_would_draw(data: bytes) -> bytes:
    """What Streamlit's st.image does with bytes at width="stretch" before serving them: the same bytes, or
    the image decoded and encoded again (on every run of the page)."""
    from streamlit.elements.lib.image_utils import _ensure_image_size_and_format, _validate_image_format_string
    from streamlit.elements.lib.layout_utils import LayoutConfig

    return _ensure_image_size_and_format(
        data, LayoutConfig(width="stretch"), _validate_image_format_string(data, "auto")
    )


@pytest.mark.parametrize(
    ("size", "fmt", "mode", "drawn_as", "drawn_size"),
    [
        ((1536, 1024), "PNG", "RGB", "JPEG", (DISPLAY_EDGE, 683)),  # an original: smaller, and a photo's format
        ((384, 256), "WEBP", "RGB", "JPEG", (384, 256)),  # a thumbnail: a format Streamlit encodes again
        ((384, 256), "WEBP", "RGBA", "PNG", (384, 256)),  # transparency kept
        ((3000, 2000), "JPEG", "RGB", "JPEG", (DISPLAY_EDGE, 683)),  # an uploaded photo
        ((2048, 2048), "PNG", "P", "JPEG", (DISPLAY_EDGE, DISPLAY_EDGE)),
    ],
)
def test_an_image_for_a_page_is_one_streamlit_serves_as_it_is(size, fmt, mode, drawn_as, drawn_size):
    data = made(size, fmt, mode)
    assert streamlit_would_draw(data) != data  # as stored, it would be encoded again on every run
    shown = for_display(data)
    with Image.open(io.BytesIO(shown)) as image:
        assert (image.format, image.size) == (drawn_as, drawn_size)
    assert streamlit_would_draw(shown) is shown


@pytest.mark.parametrize(
    ("size", "fmt", "mode"), [((1024, 683), "JPEG", "RGB"), ((640, 640), "PNG", "RGBA"), ((800, 800), "PNG", "P")]
)
def test_an_image_already_fit_for_a_page_is_passed_as_it_is(size, fmt, mode):
    data = made(size, fmt, mode)
    assert for_display(data) is data


def test_an_animation_is_left_to_play():
    out = io.BytesIO()
    frames = [Image.new("P", (64, 64), i) for i in range(3)]
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert for_display(out.getvalue()) == out.getvalue()


def animation(frames: int, size: tuple[int, int] = (32, 32)) -> bytes:
    out = io.BytesIO()
    images = [Image.new("P", size, i * 7) for i in range(frames)]
    for index, image in enumerate(images):
        image.putpixel((index % size[0], 0), 255)  # frames that differ, so none is merged away
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=120, loop=0)
    return out.getvalue()


@pytest.mark.parametrize("frames", [2, 9, 16])
def test_an_animation_within_the_apis_frames_is_accepted_with_its_first_frame_current(frames):
    image = verify_image(animation(frames), "gif", (32, 32))
    assert image.n_frames == frames and image.tell() == 0
    assert Image.open(io.BytesIO(make_thumbnail(image))).size == (32, 32)


def test_an_animation_of_more_frames_than_the_api_makes_is_refused():
    with pytest.raises(BadImage, match="more than 16 frames"):
        verify_image(animation(17), "gif", None)


def test_an_animation_with_a_broken_frame_is_refused_naming_it():
    data = animation(4)
    with pytest.raises(BadImage, match="Frame [2-4] of the animation could not be read"):
        verify_image(data[: len(data) * 3 // 4], "gif", None)


def test_an_animation_whose_screen_is_larger_than_any_model_makes_is_refused_before_decoding():
    data = bytearray(animation(2))
    data[6:10] = struct.pack("<HH", 65535, 65535)  # the logical screen a hostile file claims
    with pytest.raises(BadImage, match="too large to open safely|larger than any model makes"):
        verify_image(bytes(data), "gif", None)
