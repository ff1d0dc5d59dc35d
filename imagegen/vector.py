"""SVG from a provider, made safe to keep, show and ship: parsed with no DTD, no entities and no network
(defusedxml over the standard library's expat), within limits of size, depth and element count, then
reduced to an allowlist of SVG elements, attributes and style properties. Anything that can run, fetch or
reach outside the file (scripts, event handlers, links, foreignObject, images, style sheets, animation that
can rewrite attributes, references to anything but a fragment of the file itself) is removed, and each
removal is recorded. Rendered to PNG by resvg, which runs no script and fetches nothing."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # only to build and serialise the cleaned tree; parsing is defusedxml's
from dataclasses import dataclass

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from imagegen.errors import BadImage

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
#: the largest SVG kept: a logo or an icon is tens of kilobytes; far larger is hostile or broken
MAX_SVG_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 48
MAX_ELEMENTS = 20_000


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: the longest a render is drawn on its long side (PNG renditions and thumbnails)
MAX_RENDER_EDGE = 2048

ELEMENTS = _words(
    """svg g defs title desc symbol use path rect circle ellipse line polyline polygon text tspan textPath
    linearGradient radialGradient stop clipPath mask pattern marker filter feGaussianBlur feOffset feFlood
    feComposite feMerge feMergeNode feBlend feColorMatrix feDropShadow feMorphology"""
)
#: presentation properties: allowed as attributes and inside a style attribute
PROPERTIES = _words(
    """fill fill-opacity fill-rule stroke stroke-width stroke-linecap stroke-linejoin stroke-miterlimit
    stroke-dasharray stroke-dashoffset stroke-opacity opacity clip-path clip-rule mask filter color
    stop-color stop-opacity flood-color flood-opacity font-family font-size font-weight font-style
    font-variant text-anchor dominant-baseline alignment-baseline baseline-shift letter-spacing word-spacing
    text-decoration visibility display paint-order vector-effect shape-rendering marker-start marker-mid
    marker-end mix-blend-mode isolation"""
)
ATTRIBUTES = PROPERTIES | _words(
    """id class x y width height rx ry cx cy r fx fy fr x1 y1 x2 y2 d points transform viewBox
    preserveAspectRatio version gradientUnits gradientTransform spreadMethod offset patternUnits
    patternContentUnits patternTransform clipPathUnits maskUnits maskContentUnits markerUnits markerWidth
    markerHeight refX refY orient dx dy rotate textLength lengthAdjust startOffset pathLength
    filterUnits primitiveUnits stdDeviation in in2 result mode operator k1 k2 k3 k4 values type radius
    style href"""
)
#: a reference may only point inside the file: url(#id) or href="#id"
_LOCAL_URL = re.compile(r"url\(\s*#[A-Za-z_][\w.:-]*\s*\)")
_LOCAL_HREF = re.compile(r"#[A-Za-z_][\w.:-]*")
_NUMBER = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(px)?\s*")


@dataclass(frozen=True)
class CleanSvg:
    data: bytes
    width: float
    height: float
    #: what was taken out, one line each ("script element", "onload attribute on svg", ...)
    removed: tuple[str, ...]


def clean_svg(data: bytes) -> CleanSvg:
    """The SVG reduced to what is safe to keep and show; BadImage when it is not an SVG within the limits."""
    if not data.strip():
        raise BadImage("The provider sent an empty SVG. You may have been charged; try again.")
    if len(data) > MAX_SVG_BYTES:
        raise BadImage(
            f"The provider sent a {len(data) / 1024 / 1024:.1f} MB SVG: larger than any logo needs "
            f"(at most {MAX_SVG_BYTES // 1024 // 1024} MB is kept). You may have been charged."
        )
    root = _parse(data)
    if root.tag != f"{{{SVG_NS}}}svg":
        raise BadImage("The provider sent an XML document that is not an SVG image. You may have been charged.")
    _check_shape(root)
    removed: list[str] = []
    _clean_element(root, removed)
    width, height = svg_dimensions(root)
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    cleaned = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return CleanSvg(cleaned, width, height, tuple(removed))


def _parse(data: bytes) -> ET.Element:
    # A DOCTYPE alone is common in exported SVG and harmless to expat (it fetches no external DTD); an entity
    # declaration or an external reference is refused outright.
    try:
        return safe_xml.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        what = _FORBIDDEN.get(type(exc).__name__, "a forbidden XML construct")
        raise BadImage(
            f"The provider sent an SVG with {what}, which is never accepted (it can expand without bound or "
            "read other files). You may have been charged."
        ) from None
    except (ET.ParseError, ValueError) as exc:
        raise BadImage(
            f"The provider sent an SVG that is not well-formed XML ({exc}). You may have been charged."
        ) from None


_FORBIDDEN = {
    "EntitiesForbidden": "an entity declaration",
    "ExternalReferenceForbidden": "an external reference",
    "DTDForbidden": "a document type declaration",
}


def _check_shape(root: ET.Element) -> None:
    """Refuse a tree too deep or too large to walk and draw, before anything walks it recursively."""
    count, stack = 0, [(root, 1)]
    while stack:
        element, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH or count > MAX_ELEMENTS:
            limit = f"nested {MAX_DEPTH} deep" if depth > MAX_DEPTH else f"{MAX_ELEMENTS:,} elements"
            raise BadImage(f"The provider sent an SVG beyond {limit}: refused. You may have been charged.")
        stack.extend((child, depth + 1) for child in element)


def _clean_element(element: ET.Element, removed: list[str]) -> None:
    for name in list(element.attrib):
        value = element.attrib[name]
        kept = _clean_attribute(_local(name, XLINK_NS), value)
        if kept is None:
            removed.append(f"{_shown(name)} attribute on {_shown(element.tag)}")
            del element.attrib[name]
        elif kept != value:
            dropped = sorted(_style_properties(value) - _style_properties(kept))
            removed.append(f"style {', '.join(dropped) or 'value'} on {_shown(element.tag)}")
            element.attrib[name] = kept
    for child in list(element):
        if _local(child.tag, SVG_NS) not in ELEMENTS:
            removed.append(f"{_shown(child.tag)} element" + (" and what it held" if len(child) else ""))
            _drop(element, child)
        else:
            _clean_element(child, removed)


def _drop(parent: ET.Element, child: ET.Element) -> None:
    """Remove `child`, keeping the text that followed it in place."""
    if child.tail and child.tail.strip():
        siblings = list(parent)
        index = siblings.index(child)
        if index:
            previous = siblings[index - 1]
            previous.tail = (previous.tail or "") + child.tail
        else:
            parent.text = (parent.text or "") + child.tail
    parent.remove(child)


def _clean_attribute(name: str | None, value: str) -> str | None:
    """The attribute's value if it may stay (a style reduced to its safe properties), None to remove it.
    `name` is None for an attribute in a foreign namespace."""
    if name is None or name not in ATTRIBUTES:
        return None
    if name == "href":
        return value if _LOCAL_HREF.fullmatch(value.strip()) else None
    if name == "style":
        return _clean_style(value)
    return value if _safe_value(value) else None


def _clean_style(style: str) -> str | None:
    kept = []
    for declaration in style.split(";"):
        prop, colon, value = declaration.partition(":")
        prop, value = prop.strip().lower(), value.strip()
        if colon and prop in PROPERTIES and _safe_value(value):
            kept.append(f"{prop}:{value}")
    return ";".join(kept) or None


def _style_properties(style: str) -> set[str]:
    return {d.partition(":")[0].strip().lower() for d in style.split(";") if d.strip()}


def _safe_value(value: str) -> bool:
    """No reference outside the file, no CSS escapes or at-rules that could hide one, no script."""
    lowered = value.lower()
    if "\\" in value or "@" in value or "expression(" in lowered or "javascript:" in lowered:
        return False
    return "url(" not in lowered or _LOCAL_URL.sub("", lowered).find("url(") < 0


def _local(name: str, namespace: str) -> str | None:
    """An element's or attribute's name in `namespace` (or, for an attribute, in none); None otherwise."""
    if not name.startswith("{"):
        return name
    prefix = f"{{{namespace}}}"
    return name[len(prefix) :] if name.startswith(prefix) else None


def _shown(name: str) -> str:
    """A name as a person reads it: the namespace shortened to its last word."""
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        known = {SVG_NS: "", XLINK_NS: "xlink:", XML_NS: "xml:", "http://www.w3.org/1999/xhtml": "html:"}
        return known.get(namespace, "foreign:") + local
    return name


def svg_dimensions(root: ET.Element) -> tuple[float, float]:
    """The drawing's width and height: from its viewBox, else its width and height in px, else square."""
    parts = (root.get("viewBox") or "").replace(",", " ").split()
    if len(parts) == 4:
        try:
            width, height = float(parts[2]), float(parts[3])
        except ValueError:
            width = height = 0.0
        if width > 0 and height > 0:
            return width, height
    sizes = [_NUMBER.fullmatch(root.get(name) or "") for name in ("width", "height")]
    if all(sizes):
        width, height = (float(m.group(1)) for m in sizes if m)
        if width > 0 and height > 0:
            return width, height
    return 1024.0, 1024.0


def render_png(clean: CleanSvg, edge: int) -> bytes:
    """The cleaned SVG drawn as a PNG `edge` pixels on its long side (transparent where it draws nothing)."""
    import resvg_py  # loaded with the first vector asset, not with every command

    edge = max(1, min(edge, MAX_RENDER_EDGE))
    scale = edge / max(clean.width, clean.height)
    width, height = max(1, round(clean.width * scale)), max(1, round(clean.height * scale))
    try:
        return bytes(resvg_py.svg_to_bytes(svg_string=clean.data.decode("utf-8"), width=width, height=height))
    except ValueError as exc:
        raise BadImage(f"The SVG could not be drawn ({exc}). You may have been charged.") from None
