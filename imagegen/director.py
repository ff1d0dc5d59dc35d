"""The Director: expands a short prompt with style, lighting, camera, mood and detail keywords."""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from imagegen.errors import InvalidPrompt, InvalidRequest

PRESETS_FILE = Path(__file__).with_name("presets.toml")
FACETS = ("style", "lighting", "camera", "mood", "detail")  # most important first
EMPTY = "The prompt is empty: describe the image you want, for example 'a red bicycle'."
TOO_LONG = "The prompt has {count} characters; this model takes at most {limit}. Shorten it."


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    description: str
    template: str
    facets: dict[str, tuple[str, ...]]
    background: str = "auto"
    palette: tuple[str, ...] = ("#444444", "#888888", "#bbbbbb", "#eeeeee")
    composition: str = "centered"
    #: "edit" for presets written for edits (offered first when editing); others serve both
    use: str = "both"
    #: the kinds of asset it is offered for: "picture", "vector" (an SVG logo or icon), "animation" (a GIF)
    kinds: tuple[str, ...] = ("picture",)


@dataclass(frozen=True)
class DirectorOptions:
    raw: bool = False
    lighting: str = ""
    camera: str = ""


@dataclass(frozen=True)
class Addition:
    facet: str
    text: str


@dataclass(frozen=True)
class DirectedPrompt:
    text: str
    user_prompt: str
    preset: str
    additions: tuple[Addition, ...] = ()
    dropped: tuple[Addition, ...] = ()
    segments: tuple[tuple[str, str | None], ...] = field(default=())


@dataclass(frozen=True)
class PresetBook:
    presets: dict[str, Preset]
    lighting_choices: tuple[str, ...]
    camera_choices: tuple[str, ...]

    def label(self, name: str) -> str:
        """A preset's name as people read it; a name no longer in the book (an older image's) as it is."""
        preset = self.presets.get(name)
        return preset.label if preset else name

    def names_for(self, *, editing: bool, kind: str = "picture") -> list[str]:
        """The presets a form offers for a kind of asset: for an edit, the edit presets first, then every
        other; for a new image, all but the edit presets."""
        fitting = {name: p for name, p in self.presets.items() if kind in p.kinds}
        edit_ones = [name for name, p in fitting.items() if p.use == "edit"]
        others = [name for name in fitting if name not in edit_ones]
        return edit_ones + others if editing else others

    def get(self, name: str) -> Preset:
        try:
            return self.presets[name]
        except KeyError:
            raise InvalidRequest(f"Unknown preset {name!r}: choose one of {', '.join(self.presets)}.") from None


def in_colours(preset: Preset, palette: tuple[str, ...]) -> Preset:
    """The preset asking for the team's colours too: one more style keyword, so the page's live preview (fed
    the same preset) and the text sent agree."""
    if not palette:
        return preset
    keyword = "in the team's colours " + ", ".join(palette)
    return replace(preset, facets={**preset.facets, "style": (*preset.facets.get("style", ()), keyword)})


def load_presets(path: Path = PRESETS_FILE) -> PresetBook:
    return _load(path)


@lru_cache(maxsize=4)
def _load(path: Path) -> PresetBook:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    presets: dict[str, Preset] = {}
    for name, raw in data["presets"].items():
        template = raw["template"]
        if not template.startswith("{prompt}"):
            raise ValueError(f"preset {name}: the template must start with {{prompt}}")
        presets[name] = Preset(
            name=name,
            label=raw["label"],
            description=raw["description"],
            template=template,
            facets={facet: tuple(raw.get(facet, ())) for facet in FACETS},
            background=raw.get("background", "auto"),
            palette=tuple(raw.get("palette", Preset.palette)),
            composition=raw.get("composition", "centered"),
            use=raw.get("use", "both"),
            kinds=tuple(raw.get("kinds", Preset.kinds)),
        )
    return PresetBook(presets, tuple(data["lighting_choices"]), tuple(data["camera_choices"]))


def normalise(prompt: str) -> str:
    return " ".join(prompt.split())


def direct(prompt: str, preset: Preset, options: DirectorOptions, limit: int) -> DirectedPrompt:
    """The exact text to send: the user's words first, then the preset's additions that fit."""
    user = normalise(prompt)
    if not user:
        raise InvalidPrompt(EMPTY)
    if len(user) > limit:
        raise InvalidPrompt(TOO_LONG.format(count=f"{len(user):,}", limit=f"{limit:,}"))
    if options.raw:
        return DirectedPrompt(text=user, user_prompt=user, preset=preset.name, segments=((user, None),))

    candidates = _candidate_additions(user, preset, options)
    kept = list(candidates)
    dropped: list[Addition] = []
    segments = _render(user, preset.template, kept)
    while _length(segments) > limit and kept:
        victim = _least_important(kept)
        kept.remove(victim)
        dropped.append(victim)
        segments = _render(user, preset.template, kept)
    return DirectedPrompt(
        text="".join(text for text, _ in segments),
        user_prompt=user,
        preset=preset.name,
        additions=tuple(kept),
        dropped=tuple(dropped),
        segments=tuple(segments),
    )


def _candidate_additions(user: str, preset: Preset, options: DirectorOptions) -> list[Addition]:
    seen: set[str] = set()
    additions: list[Addition] = []
    for addition in _keywords(preset, options):
        key = addition.text.casefold()
        if key in seen or _already_written(user, addition.text):
            continue
        seen.add(key)
        additions.append(addition)
    return additions


def _keywords(preset: Preset, options: DirectorOptions) -> list[Addition]:
    """Every keyword the Director may add, most important facet first: the preset's, or an override."""
    overrides = {"lighting": options.lighting, "camera": options.camera}
    keywords: list[Addition] = []
    for facet in FACETS:
        override = normalise(overrides.get(facet, ""))
        chosen = [override] if override else list(preset.facets.get(facet, ()))
        keywords += [Addition(facet, keyword) for keyword in chosen if keyword]
    return keywords


def _already_written(user: str, keyword: str) -> bool:
    """Whether the user wrote the keyword as whole words, in any case (both case-folded: the same rule the
    browser follows while the prompt is typed)."""
    pattern = r"(?<!\w)" + re.escape(_needle(keyword)) + r"(?!\w)"
    return re.search(pattern, user.casefold()) is not None


def _needle(keyword: str) -> str:
    return " ".join(keyword.casefold().split())


def _least_important(kept: list[Addition]) -> Addition:
    # The last keyword of the least important facet still present.
    return max(reversed(kept), key=lambda a: FACETS.index(a.facet))


def _render(user: str, template: str, additions: list[Addition]) -> list[tuple[str, str | None]]:
    by_facet: dict[str, list[str]] = {}
    for addition in additions:
        by_facet.setdefault(addition.facet, []).append(addition.text)
    segments: list[tuple[str, str | None]] = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        if name == "prompt":
            segments.append((literal + user, None))
            continue
        words = by_facet.get(name or "", [])
        if name and words:
            segments.append((literal, None))
            for i, word in enumerate(words):
                if i:
                    segments.append((", ", None))
                segments.append((word, name))
        elif name is None and literal.strip():
            segments.append((literal, None))
    return [(text, facet) for text, facet in segments if text]


def _length(segments: list[tuple[str, str | None]]) -> int:
    return sum(len(text) for text, _ in segments)


def browser_plan(preset: Preset, options: DirectorOptions, limit: int) -> dict:
    """What a browser needs to direct a prompt as it is typed exactly as `direct` does (ui/director.js,
    held to it by tests/e2e/test_director_parity.py): the template, every keyword in facet order, the
    limit. The character tables it also needs are `text_tables()` in imagegen/textrules.py."""
    template = [
        [literal, name]
        for literal, name, _spec, _conv in string.Formatter().parse(preset.template)
        if name is not None or literal.strip()  # a blank literal on its own is never drawn
    ]
    keywords = [
        {"facet": a.facet, "text": a.text, "key": a.text.casefold(), "needle": _needle(a.text)}
        for a in _keywords(preset, options)
    ]
    return {"limit": limit, "raw": options.raw, "facets": list(FACETS), "template": template, "keywords": keywords}
