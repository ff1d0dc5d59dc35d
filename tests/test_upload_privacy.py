"""What an upload carries besides its pixels is never kept or sent: a marker planted in every place a
format can hold bytes is found nowhere in what the studio keeps, whatever a metadata reader reports."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest
from PIL import Image, ImageCms

from imagegen import InvalidRequest
from imagegen.edits import prepare_edit
from imagegen.masks import check_markup, check_mask
from imagegen.uploads import check_upload

MARKER = b"GPS 51.5007N 0.1246W Ann Example"


def encoded(fmt: str, size=(64, 32), mode="RGB", **save) -> bytes:
    out = io.BytesIO()
    colour = {"RGBA": (200, 40, 40, 128), "RGB": (200, 40, 40), "P": 3, "L": 90}[mode]
    Image.new(mode, size, colour).save(out, fmt, **save)
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_chunk(png: bytes, kind: bytes, data: bytes) -> bytes:
    end = png.rindex(b"IEND") - 4
    return png[:end] + png_chunk(kind, data) + png[end:]


def jpeg_with_segment(jpeg: bytes, marker: int, data: bytes) -> bytes:
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(data) + 2) + data + jpeg[2:]


def webp_with_chunk(webp: bytes, kind: bytes, data: bytes) -> bytes:
    pad = b"\0" if len(data) % 2 else b""
    body = webp[8:] + kind + struct.pack("<I", len(data)) + data + pad
    return b"RIFF" + struct.pack("<I", len(body)) + body


def zipped() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("where.txt", MARKER)
    return out.getvalue()


def palette_with_marker() -> bytes:
    image = Image.new("P", (64, 32), 0)
    palette = [200, 40, 40] + list(MARKER) + [0] * (768 - 3 - len(MARKER))
    image.putpalette(palette)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def srgb_profile_with_marker() -> bytes:
    # The marker appended to a real profile, with the header's length counting it.
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes() + MARKER
    return struct.pack(">I", len(profile)) + profile[4:]


PNG, JPEG, WEBP = encoded("PNG"), encoded("JPEG"), encoded("WEBP")
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + MARKER + b"</x:xmpmeta>"
HOSTILE = {
    "png, html and a script after its end": PNG + b"<html><script>alert(1)</script>" + MARKER,
    "png, a zip appended": PNG + zipped(),
    "png, a private chunk": png_with_chunk(PNG, b"prVt", MARKER),
    "png, a tIME chunk then text": png_with_chunk(PNG, b"tIME", struct.pack(">HBBBBB", 2026, 1, 2, 3, 4, 5)) + MARKER,
    "png, a tEXt chunk": png_with_chunk(PNG, b"tEXt", b"Author\0" + MARKER),
    "png, a zTXt chunk": png_with_chunk(PNG, b"zTXt", b"Author\0\0" + zlib.compress(MARKER)),
    "png, an iTXt chunk": png_with_chunk(PNG, b"iTXt", b"Author\0\0\0\0\0" + MARKER),
    "png, an eXIf chunk": png_with_chunk(PNG, b"eXIf", b"MM\0*" + MARKER),
    "png, an sPLT chunk": png_with_chunk(PNG, b"sPLT", b"x\0\x08" + MARKER),
    "png, unused palette entries": palette_with_marker(),
    "png, a colour profile's description": encoded("PNG", icc_profile=srgb_profile_with_marker()),
    "jpeg, an APP1 exif": jpeg_with_segment(JPEG, 0xE1, b"Exif\0\0MM\0*" + MARKER),
    "jpeg, an APP1 xmp": jpeg_with_segment(JPEG, 0xE1, b"http://ns.adobe.com/xap/1.0/\0" + XMP),
    "jpeg, a non-ICC APP2": jpeg_with_segment(JPEG, 0xE2, b"FPXR\0" + MARKER),
    "jpeg, a JFXX thumbnail": jpeg_with_segment(JPEG, 0xE0, b"JFXX\0\x13" + bytes([2, 1]) + MARKER),
    "jpeg, a custom APP14": jpeg_with_segment(JPEG, 0xEE, b"Adobe\0" + MARKER),
    "jpeg, an APP13 iptc": jpeg_with_segment(JPEG, 0xED, b"Photoshop 3.0\0" + MARKER),
    "jpeg, a comment": jpeg_with_segment(JPEG, 0xFE, MARKER),
    "jpeg, data after its end": JPEG + MARKER,
    "jpeg, a colour profile's description": encoded("JPEG", icc_profile=srgb_profile_with_marker()),
    "webp, an unknown RIFF chunk": webp_with_chunk(WEBP, b"ZZZZ", MARKER),
    "webp, an EXIF chunk": webp_with_chunk(WEBP, b"EXIF", b"MM\0*" + MARKER),
    "webp, data after its end": WEBP + MARKER,
    "webp, xmp": encoded("WEBP", xmp=XMP),
}


def carries_marker(data: bytes) -> bool:
    profile = Image.open(io.BytesIO(data)).info.get("icc_profile") or b""
    return MARKER in data or zlib.compress(MARKER) in data or MARKER in profile


def found_anywhere(kept: bytes) -> bool:
    folded = kept.lower()
    return any(part.lower() in folded for part in (MARKER, MARKER[:12], MARKER[-11:], b"<script"))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_marker_planted_anywhere_in_an_upload_is_kept_nowhere(name):
    data = HOSTILE[name]
    assert carries_marker(data)
    try:
        upload = check_upload(data)
    except InvalidRequest:
        return  # refused whole: nothing kept
    assert not found_anywhere(upload.data), name
    assert Image.open(io.BytesIO(upload.data)).size == (64, 32)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_what_an_edit_sends_and_keeps_holds_no_marker(name):
    try:
        edit = prepare_edit([encoded("PNG"), HOSTILE[name]])
    except InvalidRequest:
        return
    for item in edit.files():
        assert not found_anywhere(item.data), (name, item.name)


def test_the_pixels_and_their_transparency_survive_the_rebuild():
    original = png_with_chunk(encoded("PNG", mode="RGBA"), b"prVt", MARKER)
    kept = Image.open(io.BytesIO(check_upload(original).data))
    assert kept.mode == "RGBA" and kept.getpixel((3, 3)) == (200, 40, 40, 128)


def test_a_palette_image_keeps_its_colours():
    kept = Image.open(io.BytesIO(check_upload(palette_with_marker()).data))
    assert kept.convert("RGB").getpixel((0, 0)) == (200, 40, 40)


def test_a_colour_profile_is_applied_to_the_pixels_not_kept():
    # A profile that swaps nothing but is not sRGB: the pixels change colour when it is applied.
    adobe_like = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    plain = encoded("PNG")
    for profile in (srgb_profile_with_marker(), adobe_like):
        kept = Image.open(io.BytesIO(check_upload(encoded("PNG", icc_profile=profile)).data))
        assert "icc_profile" not in kept.info
    same = Image.open(io.BytesIO(check_upload(encoded("PNG", icc_profile=srgb_profile_with_marker())).data))
    assert max(abs(a - b) for a, b in zip(same.getpixel((0, 0)), Image.open(io.BytesIO(plain)).getpixel((0, 0)))) <= 2


def mask_png(**extra) -> bytes:
    mask = Image.new("RGBA", (64, 32), (0, 0, 0, 255))
    mask.putpixel((3, 3), (0, 0, 0, 0))
    out = io.BytesIO()
    mask.save(out, "PNG", **extra)
    return out.getvalue()


@pytest.mark.parametrize(
    "hostile",
    [
        png_with_chunk(mask_png(), b"prVt", MARKER),
        png_with_chunk(mask_png(), b"tEXt", b"Author\0" + MARKER),
        mask_png() + MARKER,
        mask_png(icc_profile=srgb_profile_with_marker()),
    ],
)
def test_a_mask_or_markup_is_rebuilt_from_its_pixels(hostile):
    for check in (check_mask, check_markup):
        kept = check(hostile, (64, 32))
        assert not found_anywhere(kept)
        assert Image.open(io.BytesIO(kept)).getpixel((3, 3))[3] == 0


def reopened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(check_upload(data).data))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_pixels_in_another_colour_space_are_converted_to_srgb(fmt):
    from tests.icc import red_green_swapped

    kept = reopened(encoded(fmt, icc_profile=red_green_swapped()))
    red, green, blue = kept.convert("RGB").getpixel((5, 5))[:3]
    assert green > 150 and red < 80 and blue < 80, (red, green, blue)  # (200, 40, 40) there is green here
    assert "icc_profile" not in kept.info


def test_a_profile_that_does_not_match_the_pixels_is_ignored_as_browsers_ignore_it():
    from tests.icc import red_green_swapped

    grey = encoded("PNG", mode="L", icc_profile=red_green_swapped())  # an RGB profile on grey pixels
    assert reopened(grey).getpixel((0, 0)) == 90
    broken = encoded("PNG", icc_profile=b"\0" * 40)
    assert reopened(broken).getpixel((0, 0)) == (200, 40, 40)


def png_of(image: Image.Image, **extra) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **extra)
    return out.getvalue()


@pytest.mark.parametrize(
    "image,extra,mode,pixel",
    [
        (Image.new("L", (4, 4), 90), {}, "L", 90),
        (Image.new("L", (4, 4), 90), {"transparency": 90}, "LA", (90, 0)),
        (Image.new("LA", (4, 4), (90, 10)), {}, "LA", (90, 10)),
        (Image.new("RGB", (4, 4), (1, 2, 3)), {"transparency": (1, 2, 3)}, "RGBA", (1, 2, 3, 0)),
        (Image.new("RGBA", (4, 4), (1, 2, 3, 4)), {}, "RGBA", (1, 2, 3, 4)),
        (Image.new("P", (4, 4), 0), {}, "RGB", (0, 0, 0)),
        (Image.new("P", (4, 4), 0), {"transparency": 0}, "RGBA", (0, 0, 0, 0)),
        (Image.new("1", (4, 4), 1), {}, "RGB", (255, 255, 255)),
        (Image.new("I;16", (4, 4), 100), {}, "RGB", (100, 100, 100)),
    ],
    ids=[
        "grey",
        "grey with a transparent value",
        "grey and alpha",
        "rgb with a transparent colour",
        "rgba",
        "palette",
        "palette with a transparent entry",
        "bilevel",
        "16-bit grey",
    ],  # fmt: skip
)
def test_every_pixel_layout_is_rebuilt_in_a_plain_one_keeping_its_transparency(image, extra, mode, pixel):
    kept = reopened(png_of(image, **extra))
    assert kept.mode == mode and kept.getpixel((1, 1)) == pixel


def test_a_cmyk_jpeg_becomes_rgb_and_a_grey_one_stays_grey():
    cmyk = io.BytesIO()
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(cmyk, "JPEG")
    kept = reopened(cmyk.getvalue())
    assert kept.mode == "RGB" and kept.getpixel((4, 4))[0] > 200 and kept.getpixel((4, 4))[1] < 60
    assert reopened(encoded("JPEG", mode="L")).mode == "L"


@pytest.mark.parametrize("subsampling", [0, 1, 2])
def test_a_jpeg_keeps_its_chroma_subsampling_and_is_written_at_high_quality(subsampling):
    from PIL import JpegImagePlugin

    original = encoded("JPEG", size=(64, 64), subsampling=subsampling, quality=50)
    kept = reopened(original)
    assert JpegImagePlugin.get_sampling(kept) == subsampling
    assert kept.quantization[0][0] <= 3  # quality 95's tables, not the upload's coarser ones


def test_a_png_or_webp_upload_becomes_the_same_kind_of_file():
    assert check_upload(encoded("WEBP")).format == "webp" and reopened(encoded("WEBP")).format == "WEBP"
    assert reopened(encoded("PNG")).format == "PNG"


def test_the_colour_conversion_keeps_transparency_and_takes_any_layout():
    from tests.icc import red_green_swapped

    swapped = red_green_swapped()
    clear = reopened(png_of(Image.new("RGBA", (4, 4), (200, 40, 40, 100)), icc_profile=swapped))
    assert clear.mode == "RGBA" and clear.getpixel((1, 1))[3] == 100 and clear.getpixel((1, 1))[1] > 150
    solid = reopened(png_of(Image.new("RGB", (4, 4), (200, 40, 40)), icc_profile=swapped))
    assert solid.mode == "RGB"
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([200, 40, 40] + [0] * 765)
    converted = reopened(png_of(palette, icc_profile=swapped))
    assert converted.mode == "RGB" and converted.getpixel((1, 1))[1] > 150  # a palette image's colours too
