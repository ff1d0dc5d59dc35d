"""Images people upload are checked by their content before anything is spent, and kept without metadata."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from imagegen import InvalidRequest
from imagegen.imaging import MAX_PIXELS
from imagegen.uploads import MAX_UPLOAD_BYTES, check_upload

GPS_IFD, ORIENTATION, ARTIST = 0x8825, 0x0112, 0x013B


def encoded(fmt: str, size=(64, 32), mode="RGB", **save) -> bytes:
    out = io.BytesIO()
    colour = {"RGBA": (200, 40, 40, 128), "RGB": (200, 40, 40)}.get(mode, 0)
    Image.new(mode, size, colour).save(out, fmt, **save)
    return out.getvalue()


def with_exif(fmt: str, orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[ARTIST] = "Ann Example"
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD)[2] = (51.0, 30.0, 0.0)  # latitude
    return encoded(fmt, exif=exif.tobytes())


@pytest.mark.parametrize("fmt,kind", [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp")])
def test_the_three_formats_are_taken_by_content_with_their_size(fmt, kind):
    upload = check_upload(encoded(fmt))
    assert (upload.format, upload.width, upload.height) == (kind, 64, 32)
    assert Image.open(io.BytesIO(upload.data)).format == fmt


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
def test_location_author_and_every_other_exif_field_are_removed(fmt):
    original = with_exif(fmt)
    assert Image.open(io.BytesIO(original)).getexif()[ARTIST] == "Ann Example"
    kept = Image.open(io.BytesIO(check_upload(original).data))
    assert dict(kept.getexif()) == {}
    assert "exif" not in kept.info and "xmp" not in kept.info
    assert kept.format == fmt  # cleaned, still the kind of file it was


def test_png_text_chunks_are_removed_and_transparency_is_kept():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Ann Example")
    kept = Image.open(io.BytesIO(check_upload(encoded("PNG", mode="RGBA", pnginfo=info)).data))
    assert "Author" not in kept.info and kept.mode == "RGBA"
    assert kept.getpixel((0, 0))[3] == 128


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_even_an_image_with_nothing_to_strip_is_rebuilt_from_its_pixels(fmt):
    # Encoded unlike the studio would encode it: what is kept is the studio's own file of the same pixels.
    unusual = {"PNG": {"compress_level": 9}, "JPEG": {"optimize": True}, "WEBP": {"lossless": True}}
    original = encoded(fmt, size=(48, 48), **unusual[fmt])
    kept = check_upload(original).data
    assert kept != original
    before, after = (Image.open(io.BytesIO(d)).convert("RGB") for d in (original, kept))
    assert max(abs(x - y) for x, y in zip(before.getpixel((5, 5)), after.getpixel((5, 5)))) <= 3


@pytest.mark.parametrize(
    ("fmt", "save"),
    [
        ("JPEG", {"comment": b"shot by Ann at home"}),
        ("WEBP", {"xmp": b"<x:xmpmeta>Ann Example</x:xmpmeta>"}),
        ("PNG", {"dpi": (72, 72), "pnginfo": "text"}),
    ],
)
def test_comments_xmp_and_text_are_never_kept(fmt, save):
    from PIL import PngImagePlugin

    if save.get("pnginfo") == "text":
        save["pnginfo"] = PngImagePlugin.PngInfo()
        save["pnginfo"].add_itxt("Description", "Ann at home")
    original = encoded(fmt, **save)
    kept = check_upload(original).data
    assert kept != original
    assert b"Ann" not in kept


def test_a_photo_turned_by_its_exif_is_kept_upright():
    upload = check_upload(with_exif("JPEG", orientation=6))  # "rotate 90 degrees to view"
    assert (upload.width, upload.height) == (32, 64)
    assert Image.open(io.BytesIO(upload.data)).size == (32, 64)


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "The image is empty: choose an image file."),
        (b"%PDF-1.7 not an image", "The image is not a readable image: upload a PNG, JPEG or WebP file."),
        (encoded("PNG")[:60], "The image is not a readable image: upload a PNG, JPEG or WebP file."),
        (encoded("GIF"), "The image is a GIF image: upload a PNG, JPEG or WebP image."),
        (encoded("BMP"), "The image is a BMP image: upload a PNG, JPEG or WebP image."),
    ],
)
def test_what_is_not_an_accepted_image_is_refused_saying_what_to_do(data, message):
    with pytest.raises(InvalidRequest) as refused:
        check_upload(data)
    assert refused.value.message == message


def test_the_name_given_is_used_in_the_message():
    with pytest.raises(InvalidRequest, match="^Reference 2 is empty"):
        check_upload(b"", "Reference 2")


def test_a_file_of_fifty_megabytes_is_refused_before_it_is_opened():
    with pytest.raises(InvalidRequest) as refused:
        check_upload(b"\x89PNG" + bytes(MAX_UPLOAD_BYTES - 4))
    assert refused.value.message == "The image is 50.0 MB: images must be under 50 MB."
    with pytest.raises(InvalidRequest) as larger:
        check_upload(bytes(55_000_000))  # 52.45 MiB: a megabyte is 1024 x 1024 bytes here
    assert larger.value.message == "The image is 52.5 MB: images must be under 50 MB."
    assert check_upload(encoded("PNG")).format == "png"  # far under the limit


def test_more_pixels_than_the_cap_are_refused_from_the_header():
    # a PNG header claiming a huge canvas: refused before any pixel is decoded
    side = int(MAX_PIXELS**0.5) + 1
    with pytest.raises(InvalidRequest, match=rf"is {side}x{side}: images may have at most"):
        check_upload(encoded("PNG", size=(side, side), mode="1"))


def test_a_decompression_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow's own guard, tripped by a small image
    with pytest.raises(InvalidRequest, match="too large to open safely"):
        check_upload(encoded("PNG", size=(16, 16)))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_are_either_a_checked_image_or_a_clear_refusal(data):
    try:
        upload = check_upload(data)
    except InvalidRequest as refused:
        assert refused.message.startswith("The image ")
    else:
        assert upload.format in ("png", "jpeg", "webp")


def test_an_unknown_jpeg_segment_is_stripped_too():
    plain = encoded("JPEG")
    segment = b"Ann Example, Main Street 1"
    app4 = b"\xff\xe4" + (len(segment) + 2).to_bytes(2, "big") + segment
    original = plain[:2] + app4 + plain[2:]  # right after the start-of-image marker
    assert "APP4" in [marker for marker, _ in Image.open(io.BytesIO(original)).applist]
    kept = check_upload(original).data
    assert segment not in kept and Image.open(io.BytesIO(kept)).size == (64, 32)
