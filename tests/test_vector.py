"""SVG from a provider: hostile documents are refused or reduced to inert drawing, and what was taken out is
recorded; a clean logo keeps its drawing and renders at any size."""

import io
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from imagegen.errors import BadImage
from imagegen.vector import ATTRIBUTES, ELEMENTS, MAX_DEPTH, MAX_SVG_BYTES, SVG_NS, clean_svg, render_png

LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 200 100">'
    b'<defs><linearGradient id="g"><stop offset="0" stop-color="#3a5ccc"/><stop offset="1" stop-color="#e33"/>'
    b'</linearGradient><circle id="dot" r="8"/></defs>'
    b'<rect x="10" y="10" width="180" height="80" rx="12" fill="url(#g)"/>'
    b'<use xlink:href="#dot" x="40" y="50" style="fill:#fff;opacity:0.9"/>'
    b'<text x="100" y="60" font-size="20" text-anchor="middle">Acme</text></svg>'
)


def wrap(inner: str, attrs: str = "") -> bytes:
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" {attrs}>{inner}</svg>'.encode()


def assert_inert(data: bytes) -> None:
    """Nothing in the cleaned file can run, fetch or point outside it."""
    text = data.decode()
    for needle in ("<script", "javascript:", "foreignObject", "http://evil", "https://", "@import", "onload"):
        assert needle not in text, needle
    for element in ET.fromstring(data).iter():
        assert element.tag.startswith(f"{{{SVG_NS}}}") and element.tag.split("}")[1] in ELEMENTS
        for name, value in element.attrib.items():
            assert name.split("}")[-1] in ATTRIBUTES
            if name.endswith("href"):
                assert value.startswith("#")


def test_a_clean_logo_keeps_its_drawing_its_local_references_and_its_size():
    clean = clean_svg(LOGO)
    assert clean.removed == ()
    assert (clean.width, clean.height) == (200, 100)
    root = ET.fromstring(clean.data)
    assert [e.tag.split("}")[1] for e in root.iter()] == [
        "svg", "defs", "linearGradient", "stop", "stop", "circle", "rect", "use", "text",
    ]  # fmt: skip
    assert root.find(f"{{{SVG_NS}}}rect").get("fill") == "url(#g)"
    assert b'href="#dot"' in clean.data and b">Acme</text>" in clean.data


@pytest.mark.parametrize(
    ("inner", "attrs", "removed"),
    [
        ("<script>alert(1)</script><rect width='9' height='9'/>", "", "script element"),
        ("<rect width='9' height='9' onclick='alert(1)'/>", "", "onclick attribute on rect"),
        ("<circle r='4'/>", "onload='alert(1)'", "onload attribute on svg"),
        (
            "<use xmlns:xlink='http://www.w3.org/1999/xlink' xlink:href='https://evil.example/x.svg#a'/>",
            "",
            "xlink:href attribute on use",
        ),
        ("<use href='data:image/svg+xml;base64,PHN2Zz4='/>", "", "href attribute on use"),
        (
            "<foreignObject><div xmlns='http://www.w3.org/1999/xhtml'><iframe src='https://evil.example'/></div>"
            "</foreignObject>",
            "",
            "foreignObject element and what it held",
        ),
        ("<image href='https://evil.example/pixel.png' width='1' height='1'/>", "", "image element"),
        ("<style>@import url(https://evil.example/a.css);</style>", "", "style element"),
        ("<rect width='9' height='9' fill='url(https://evil.example/p.svg#g)'/>", "", "fill attribute on rect"),
        (
            "<rect width='9' height='9' style='fill:red;background:url(https://evil.example/t)'/>",
            "",
            "style background on rect",
        ),
        ("<rect width='9' height='9' style='fill:u\\72l(https://evil.example)'/>", "", "style attribute on rect"),
        ("<a href='javascript:alert(1)'><rect width='9' height='9'/></a>", "", "a element and what it held"),
        ("<animate attributeName='href' to='javascript:alert(1)'/>", "", "animate element"),
        ("<set attributeName='onload' to='alert(1)'/>", "", "set element"),
        ("<rect width='9' height='9' xmlns:ev='http://evil.example/ns' ev:x='1'/>", "", "foreign:x attribute on rect"),
    ],
)
def test_what_can_run_or_fetch_is_taken_out_and_recorded(inner, attrs, removed):
    clean = clean_svg(wrap(inner, attrs))
    assert removed in clean.removed
    assert_inert(clean.data)


def test_a_style_keeps_its_safe_properties_and_records_the_rest():
    clean = clean_svg(wrap("<rect width='9' height='9' style='fill: #123456; behavior: url(x.htc); opacity: .5'/>"))
    assert b'style="fill:#123456;opacity:.5"' in clean.data
    assert clean.removed == ("style behavior on rect",)


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>',
            "entity declaration",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>',
            "entity declaration",
        ),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><rect></svg>', "not well-formed"),
        (b'<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>', "not an SVG"),
        (b"<svg><rect/></svg>", "not an SVG"),  # no SVG namespace: not an SVG a browser would draw
        (b"", "empty"),
        (wrap("<g>" * (MAX_DEPTH + 1) + "</g>" * (MAX_DEPTH + 1)), f"nested {MAX_DEPTH} deep"),
        (wrap("<rect/>" * 20_001), "20,000 elements"),
        (wrap("<!--" + "x" * MAX_SVG_BYTES + "-->"), "MB SVG"),
    ],
)
def test_a_hostile_or_broken_document_is_refused_with_the_reason(document, says):
    with pytest.raises(BadImage, match=says):
        clean_svg(document)


def test_a_doctype_without_entities_is_accepted():
    exported = (
        b'<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">' + LOGO
    )
    assert clean_svg(exported).width == 200


def test_fifty_megabytes_are_refused_before_parsing():
    with pytest.raises(BadImage, match="50.0 MB SVG"):
        clean_svg(b"<svg" + b" " * (50 * 1024 * 1024) + b"/>")


@pytest.mark.parametrize("edge", [16, 1024])
def test_the_cleaned_logo_renders_at_favicon_and_banner_size_with_its_shape(edge):
    png = render_png(clean_svg(LOGO), edge)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (edge, edge // 2)
    assert image.mode == "RGBA"
    corner, middle = image.getpixel((0, 0)), image.getpixel((edge // 2, edge // 4))
    assert corner[3] == 0 and middle[3] == 255  # transparent around the drawing, opaque inside it


def test_dimensions_come_from_the_viewbox_then_width_and_height_then_a_square():
    assert clean_svg(wrap("", "")).width == 64
    bare = b'<svg xmlns="http://www.w3.org/2000/svg" width="300px" height="150"/>'
    assert (clean_svg(bare).width, clean_svg(bare).height) == (300, 150)
    assert clean_svg(b'<svg xmlns="http://www.w3.org/2000/svg" width="50%"/>').width == 1024
