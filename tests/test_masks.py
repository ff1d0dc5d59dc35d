"""A painting over the starting image becomes the mask the Images API expects, and bad masks are refused."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from imagegen import InvalidRequest
from imagegen.masks import MAX_MASK_BYTES, check_markup, check_mask, markup_from_drawing, mask_from_painting


def painting(size=(200, 100), box=(20, 10, 60, 40), alpha=255) -> Image.Image:
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(canvas).rectangle(box, fill=(255, 0, 0, alpha))
    return canvas


def values(channel: Image.Image) -> list[int]:
    """The distinct values in one channel, in order."""
    return [value for value, count in enumerate(channel.histogram()) if count]


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_painted_pixels_become_fully_transparent_and_the_rest_opaque():
    mask = opened(mask_from_painting(painting(), (200, 100)))
    assert mask.format == "PNG" and mask.size == (200, 100) and mask.mode == "RGBA"
    assert mask.getpixel((30, 20))[3] == 0  # painted: edit here
    assert mask.getpixel((150, 80))[3] == 255  # not painted: keep
    assert mask.getchannel("A").getbbox() is not None


def test_a_faint_stroke_counts_as_painted():
    mask = opened(mask_from_painting(painting(alpha=10), (200, 100)))
    assert mask.getpixel((30, 20))[3] == 0


def test_a_painting_on_a_smaller_canvas_is_scaled_to_the_image_without_soft_edges():
    mask = opened(mask_from_painting(painting(size=(100, 50), box=(10, 5, 29, 19)), (1536, 768)))
    assert mask.size == (1536, 768)
    assert values(mask.getchannel("A")) == [0, 255]
    assert mask.getpixel((10 * 15 + 7, 5 * 15 + 7))[3] == 0 and mask.getpixel((40 * 15, 30 * 15))[3] == 255


def test_an_empty_painting_is_refused():
    with pytest.raises(InvalidRequest, match="Paint over the part of the image to change first"):
        mask_from_painting(Image.new("RGBA", (10, 10), (0, 0, 0, 0)), (10, 10))


def png(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    "data,message",
    [
        (b"not an image", "The mask is not a readable image: it must be a PNG."),
        (png(Image.new("RGB", (10, 10)), "JPEG"), "The mask is a JPEG image: it must be a PNG."),
        (png(Image.new("RGBA", (12, 10))), "The mask is 12x10 but the image is 10x10: they must match."),
        (png(Image.new("RGB", (10, 10))), "The mask has no transparency: its transparent pixels mark where to edit."),
        (
            png(Image.new("RGBA", (10, 10), (0, 0, 0, 1))),
            "The mask has no fully transparent pixel: nothing would be edited.",
        ),
        (b"\x89PNG" + bytes(MAX_MASK_BYTES), "The mask is 4.0 MB: it must be under 4 MB."),
    ],
)
def test_a_mask_the_api_would_refuse_is_refused_here_saying_why(data, message):
    with pytest.raises(InvalidRequest) as refused:
        check_mask(data, (10, 10))
    assert refused.value.message == message


@settings(max_examples=40, deadline=None)
@given(
    st.tuples(st.integers(1, 64), st.integers(1, 64)),
    st.tuples(st.integers(1, 300), st.integers(1, 300)),
    st.data(),
)
def test_every_painted_region_is_transparent_in_the_mask_at_any_scale(canvas, size, data):
    x = data.draw(st.integers(0, canvas[0] - 1))
    y = data.draw(st.integers(0, canvas[1] - 1))
    picture = Image.new("RGBA", canvas, (0, 0, 0, 0))
    picture.putpixel((x, y), (255, 255, 255, 255))
    mask = opened(mask_from_painting(picture, size))
    assert mask.size == size
    alpha = values(mask.getchannel("A"))
    assert alpha[0] == 0  # the painted pixel survives any scaling
    assert set(alpha) <= {0, 255}


@pytest.mark.parametrize(("canvas", "size"), [((14, 35), (1, 1)), ((1024, 1024), (32, 32)), ((3000, 2000), (7, 5))])
def test_one_painted_pixel_survives_a_scale_down_of_more_than_255_to_1(canvas, size):
    """Its share of the pixel it lands in is under 1/255 of the area (found by the property test above)."""
    picture = Image.new("RGBA", canvas, (0, 0, 0, 0))
    picture.putpixel((canvas[0] - 1, canvas[1] - 1), (255, 255, 255, 255))
    alpha = opened(mask_from_painting(picture, size)).getchannel("A")
    assert alpha.getpixel((size[0] - 1, size[1] - 1)) == 0
    assert sorted(set(values(alpha))) == ([0] if size == (1, 1) else [0, 255])


def overlapped(canvas: tuple[int, int], size: tuple[int, int], painted: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """The mask pixels whose area overlaps a painted canvas pixel's, by exact fractions."""
    (canvas_w, canvas_h), (width, height) = canvas, size

    def spans(start: int, source: int, target: int) -> range:
        # target pixels i with i * source / target < start + 1 and start < (i + 1) * source / target
        first = start * target // source
        return range(first, min(target, -(-(start + 1) * target // source)))

    return {(i, j) for x, y in painted for i in spans(x, canvas_w, width) for j in spans(y, canvas_h, height)}


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(st.integers(1, 48), st.integers(1, 48)),
    st.tuples(st.integers(1, 96), st.integers(1, 96)),
    st.data(),
)
def test_the_mask_is_exactly_the_pixels_a_painted_pixel_overlaps(canvas, size, data):
    points = data.draw(st.sets(st.tuples(st.integers(0, canvas[0] - 1), st.integers(0, canvas[1] - 1)), min_size=1))
    picture = Image.new("RGBA", canvas, (0, 0, 0, 0))
    for point in points:
        picture.putpixel(point, (9, 9, 9, 255))
    alpha = opened(mask_from_painting(picture, size)).getchannel("A")
    edited = {(i, j) for j in range(size[1]) for i in range(size[0]) if alpha.getpixel((i, j)) == 0}
    assert edited == overlapped(canvas, size, points)


def test_a_pixel_cut_by_the_edge_between_two_mask_pixels_paints_both():
    """46 columns to 36: column 34 spans 26.6 to 27.4 of the mask's, an edge Pillow's BOX filter weighs in
    neither (found by the property test above in CI)."""
    picture = Image.new("RGBA", (46, 1), (0, 0, 0, 0))
    picture.putpixel((34, 0), (255, 255, 255, 255))
    alpha = opened(mask_from_painting(picture, (36, 1))).getchannel("A")
    assert [i for i in range(36) if alpha.getpixel((i, 0)) == 0] == [26, 27]


def test_a_mask_or_markup_of_another_size_is_refused_from_its_header_before_decoding():
    # Headers claiming huge canvases over bodies cut short: decoding them would fail as unreadable; the
    # size is what refuses them, so nothing was decoded.
    for side, refusal in ((9000, "is 9000x9000 but the image is 64x32: they must match"), (12000, "too large")):
        whole = io.BytesIO()
        Image.new("L", (side, side), 0).save(whole, "PNG", compress_level=9)
        header_only = whole.getvalue()[:4096]
        for check in (check_mask, check_markup):
            with pytest.raises(InvalidRequest, match=refusal):
                check(header_only, (64, 32))


def test_a_canvas_drawing_is_checked_from_its_header_and_empty_means_none():
    from imagegen.masks import drawn_layer

    blank, painted = io.BytesIO(), io.BytesIO()
    Image.new("RGBA", (40, 20), (0, 0, 0, 0)).save(blank, "PNG")
    dot = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    dot.putpixel((5, 5), (255, 0, 0, 10))
    dot.save(painted, "PNG")
    assert drawn_layer(blank.getvalue()) is None
    assert drawn_layer(painted.getvalue()).getpixel((5, 5))[3] == 10
    whole = io.BytesIO()
    Image.new("L", (9000, 9000), 0).save(whole, "PNG", compress_level=9)
    with pytest.raises(InvalidRequest, match="9000x9000: far larger than a canvas"):
        drawn_layer(whole.getvalue()[:4096])


def _png_of(image: Image.Image, **extra) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **extra)
    return out.getvalue()


def test_the_mask_is_opaque_black_where_nothing_was_painted_and_clear_where_it_was():
    painting = Image.new("LA", (8, 8), (0, 0))  # any layout a canvas may send
    painting.putpixel((2, 2), (255, 1))
    mask = Image.open(io.BytesIO(mask_from_painting(painting, (8, 8))))
    assert mask.mode == "RGBA" and mask.getpixel((0, 0)) == (0, 0, 0, 255)
    assert mask.getpixel((2, 2))[3] == 0 and mask.getchannel("A").getextrema() == (0, 255)


def test_a_drawing_in_another_layout_becomes_rgba_and_a_faint_markup_still_counts():
    from imagegen.masks import drawn_layer

    drawing = Image.new("LA", (8, 8), (0, 0))
    drawing.putpixel((1, 1), (90, 200))
    layer = drawn_layer(_png_of(drawing))
    assert layer.mode == "RGBA" and layer.getpixel((1, 1)) == (90, 90, 90, 200)
    faint = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    faint.putpixel((3, 3), (255, 0, 0, 1))  # the faintest stroke
    kept = Image.open(io.BytesIO(check_markup(_png_of(faint), (8, 8))))
    assert kept.getpixel((3, 3)) == (255, 0, 0, 1)
    drawn = Image.new("LA", (4, 4), (0, 0))
    drawn.putpixel((0, 0), (200, 255))
    scaled = Image.open(io.BytesIO(markup_from_drawing(drawn, (8, 8))))
    assert scaled.mode == "RGBA" and scaled.size == (8, 8) and scaled.getpixel((7, 7)) == (0, 0, 0, 0)


def test_a_palette_mask_with_a_transparent_colour_is_taken_as_its_transparency():
    mask = Image.new("P", (8, 8), 1)
    mask.putpalette([0, 0, 0] * 2)
    mask.putpixel((0, 0), 0)
    kept = Image.open(io.BytesIO(check_mask(_png_of(mask, transparency=0), (8, 8))))
    assert kept.mode == "RGBA" and kept.getpixel((0, 0))[3] == 0 and kept.getpixel((1, 1))[3] == 255
    opaque = Image.open(io.BytesIO(check_mask(_png_of(Image.new("RGBA", (8, 8), (0, 0, 0, 0))), (8, 8))))
    assert opaque.mode == "RGBA"
    with pytest.raises(InvalidRequest) as no_alpha:
        check_mask(_png_of(Image.new("RGB", (8, 8))), (8, 8))
    assert no_alpha.value.message == "The mask has no transparency: its transparent pixels mark where to edit."


@pytest.mark.parametrize(
    "layer,message",
    [
        (
            Image.new("RGB", (8, 8)),
            "The markup has no transparency: it is drawn over the image, so it must be see-through.",
        ),
        (
            Image.new("RGBA", (8, 8), (9, 9, 9, 255)),
            "The markup has no transparent pixel: it would hide the whole image.",
        ),
        (Image.new("RGBA", (8, 8), (9, 9, 9, 0)), "The markup is empty: draw what to change on it."),
    ],
)
def test_a_markup_the_api_would_refuse_is_refused_saying_why(layer, message):
    with pytest.raises(InvalidRequest) as refused:
        check_markup(_png_of(layer), (8, 8))
    assert refused.value.message == message


def test_a_drawing_without_transparency_is_refused_as_a_markup_that_hides_the_image():
    with pytest.raises(InvalidRequest, match="no transparent pixel"):
        markup_from_drawing(Image.new("RGB", (8, 8), (255, 0, 0)), (8, 8))


def test_the_refusals_of_empty_drawings_say_what_to_do():
    from imagegen.masks import drawn_layer

    with pytest.raises(InvalidRequest) as empty_mask:
        mask_from_painting(Image.new("RGBA", (8, 8)), (8, 8))
    assert empty_mask.value.message == "Paint over the part of the image to change first: the mask is empty."
    with pytest.raises(InvalidRequest) as empty_markup:
        markup_from_drawing(Image.new("RGBA", (8, 8)), (8, 8))
    assert empty_markup.value.message == "Draw on the image first: the markup is empty."
    with pytest.raises(InvalidRequest) as unreadable:
        drawn_layer(b"not a png at all")
    assert unreadable.value.message == "The drawing is not a readable image: draw on the canvas again."


def test_a_mask_of_exactly_four_megabytes_is_refused_with_its_size(monkeypatch):
    with pytest.raises(InvalidRequest) as refused:
        check_mask(b"\x89PNG" + bytes(MAX_MASK_BYTES - 4), (8, 8))
    assert refused.value.message == "The mask is 4.0 MB: it must be under 4 MB."
    with pytest.raises(InvalidRequest) as bigger:
        check_markup(bytes(5_193_000), (8, 8))  # 4.95 MiB: a megabyte is 1024 x 1024 bytes here
    assert bigger.value.message == "The markup is 5.0 MB: it must be under 4 MB."


def test_a_bomb_drawing_or_mask_is_refused_as_too_large_naming_the_size_wanted(monkeypatch):
    from imagegen.masks import drawn_layer

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # Pillow's own guard, tripped by a small image
    with pytest.raises(InvalidRequest) as mask:
        check_mask(_png_of(Image.new("RGBA", (6, 4))), (6, 4))
    assert mask.value.message == "The mask is too large to open safely: it must be 6x4."
    with pytest.raises(InvalidRequest) as drawing:
        drawn_layer(_png_of(Image.new("RGBA", (6, 4))))
    assert drawing.value.message == "The drawing is too large to open safely."
