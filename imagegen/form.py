"""What the Generate form offers for a model, a new image or an edit, and how a form's values are brought
within it: the rules a page draws, kept here so that they are tested with the engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from imagegen.catalog import ModelSpec
from imagegen.checks import REWRITE_KEY
from imagegen.director import PresetBook
from imagegen.request import KINDS

#: the choice that leaves a setting to the preset (lighting, camera, background, input fidelity)
PRESET_DEFAULT = "Preset default"
#: the size choice of an edit that keeps its starting image's shape (short: it fits the Size box whole)
SAME_SHAPE = "As the image"
#: the size choice that opens a typed size, on models that take any size within a rule
CUSTOM_SIZE = "Custom..."
#: the kinds of asset, as a person reads them, in the order offered
KIND_LABELS = {"picture": "Picture", "vector": "Logo or icon (SVG)", "animation": "Animation (GIF)"}
#: an animation's frames and each frame's length as the form offers them (the API takes up to 655,350 ms)
FRAMES = (2, 16, 9)
FRAME_MS = (20, 5000, 200)
#: every field of the form but the prompt (the prompt box keeps it), in the order they are settled
SETTINGS = (
    "kind", "preset", "raw", "team_colours", "lighting", "camera", "model", "size", "custom_size", "input_fidelity",
    "quality", "n", "output_format", "background", "frames", "frame_ms", "rewrite",
)  # fmt: skip


@dataclass(frozen=True)
class FormChoices:
    """Everything the form may offer for one model, while making a new image or editing one."""

    spec: ModelSpec
    editing: bool
    #: the kind of asset chosen, and every kind some model here can make (id -> label)
    kind: str
    kinds: dict[str, str]
    presets: list[str]
    preset_labels: dict[str, str]
    preset_descriptions: dict[str, str]
    lighting: list[str]
    camera: list[str]
    #: the models offered (id -> label on the team's day); for an edit only those that edit, when any does
    models: dict[str, str]
    #: True when models were left out because they cannot edit
    only_editors: bool
    sizes: list[str]
    qualities: list[str]
    n_max: int
    formats: list[str]
    backgrounds: list[str]
    #: the preset's default and the model's fidelities; empty when it has none (or while not editing)
    input_fidelities: list[str]
    #: the team's colours an admin set, which the Director can ask for; empty when none are set
    palette: tuple[str, ...] = ()

    @property
    def default_size(self) -> str:
        if self.editing:
            return SAME_SHAPE
        return self.spec.default_size if self.spec.default_size in self.sizes else self.sizes[0]

    def settle(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The form's values, each within what this model offers: a value it does not offer becomes the
        default, so the next click buys something this model can make."""
        custom = values.get("custom_size")
        n = values.get("n")
        return {
            "kind": self.kind,
            "preset": _within(values.get("preset"), self.presets, self.presets[0]),
            "raw": values.get("raw") is True,
            "team_colours": bool(self.palette) and values.get("team_colours") is True,
            "lighting": _within(values.get("lighting"), self.lighting, PRESET_DEFAULT),
            "camera": _within(values.get("camera"), self.camera, PRESET_DEFAULT),
            "model": self.spec.id,
            "size": _within(values.get("size"), self.sizes, self.default_size),
            "custom_size": custom if isinstance(custom, str) else "",
            "input_fidelity": _within(values.get("input_fidelity"), self.input_fidelities, PRESET_DEFAULT),
            "quality": _within(values.get("quality"), self.qualities, self.spec.default_quality),
            "n": n if type(n) is int and 1 <= n <= self.n_max else 1,
            "output_format": _within(values.get("output_format"), self.formats, self.formats[0]),
            "background": _within(values.get("background"), self.backgrounds, PRESET_DEFAULT),
            "frames": _number(values.get("frames"), FRAMES),
            "frame_ms": _number(values.get("frame_ms"), FRAME_MS),
            "rewrite": _rewrite_key(values.get("rewrite"), values.get("raw") is True and not self.editing),
        }

    def request_fields(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The settled form as a request's fields: "the preset's default" and "the same shape" are left blank
        for the engine to fill, and the Director's choices are dropped when the prompt is sent raw."""
        settled = self.settle(values)
        raw = settled["raw"]
        fields = {
            "preset": settled["preset"],
            "model": settled["model"],
            "size": chosen_size(settled),
            "quality": settled["quality"],
            "n": settled["n"],
            "output_format": settled["output_format"],
            "background": _blank_default(settled["background"]),
            "raw": raw,
            "team_colours": settled["team_colours"] and not raw,
            "lighting": "" if raw else _blank_default(settled["lighting"]),
            "camera": "" if raw else _blank_default(settled["camera"]),
            "rewrite": settled["rewrite"],
        }
        if self.editing and settled["input_fidelity"] != PRESET_DEFAULT:
            fields["input_fidelity"] = settled["input_fidelity"]
        if self.kind == "animation":
            fields.update(frame_count=settled["frames"], frame_duration_ms=settled["frame_ms"])
        return fields

    def size_problem(self, values: Mapping[str, Any]) -> str | None:
        """What is wrong with the size before anything else is checked: a custom size chosen but not typed."""
        settled = self.settle(values)
        if settled["size"] == CUSTOM_SIZE and not settled["custom_size"].strip():
            return f"Type a custom size such as 1536x864: {self.spec.id} takes {self.spec.describe_sizes()}."
        return None

    def starting_an_edit(self) -> dict[str, Any]:
        """The settings an edit starts with (the rest of the form is kept): the first edit preset, and the
        starting image's shape."""
        return {"preset": self.presets[0], "size": SAME_SHAPE}

    def reference_room(self, chosen: int) -> int:
        """How many more reference images an edit may add beside its starting image and the `chosen` ones."""
        return max(0, self.spec.edit_inputs - 1 - chosen)


def form_choices(
    presets: PresetBook,
    usable: list[ModelSpec],
    model: str | None,
    default_model: str,
    *,
    editing: bool,
    on: date,
    kind: str | None = None,
    palette: tuple[str, ...] = (),
) -> FormChoices:
    """What the form offers for `model` (the default model, or the first offered, when it is not offered)
    among the `usable` models that make the `kind` of asset (a picture when none of them does), on the
    team's day `on`."""
    editors = [m for m in usable if m.edits]
    offered = (editors or usable) if editing else usable
    kinds = {k: label for k, label in KIND_LABELS.items() if any(_makes(m, k) for m in offered)}
    kind = kind if kind in kinds else "picture"
    offered = [m for m in offered if _makes(m, kind)]
    by_id = {m.id: m for m in offered}
    fallback = default_model if default_model in by_id else offered[0].id
    spec = by_id.get(model or "", by_id[fallback])
    names = presets.names_for(editing=editing, kind=kind)
    picture = kind == "picture"
    return FormChoices(
        spec=spec,
        editing=editing,
        kind=kind,
        kinds=kinds,
        presets=names,
        preset_labels={name: presets.presets[name].label for name in names},
        preset_descriptions={name: presets.presets[name].description for name in names},
        lighting=[PRESET_DEFAULT, *presets.lighting_choices],
        camera=[PRESET_DEFAULT, *presets.camera_choices],
        models={m.id: m.choice_label(on) for m in offered},
        only_editors=editing and len(offered) < len(usable),
        sizes=([SAME_SHAPE] if editing else []) + spec.size_choices() + ([CUSTOM_SIZE] if spec.size_rule else []),
        qualities=list(spec.qualities),
        n_max=spec.n_max if kind != "vector" else 1,
        formats=[f for f in spec.formats if KINDS[f] == kind],
        # A logo has no backdrop of its own and an animation keeps the API's: the background is a picture's.
        backgrounds=[PRESET_DEFAULT, *spec.backgrounds] if picture else [PRESET_DEFAULT],
        input_fidelities=[PRESET_DEFAULT, *spec.input_fidelity] if editing and spec.input_fidelity else [],
        palette=palette,
    )


def prefilled(prefill: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values that remake an image ("use these settings"): its prompt and every setting it
    recorded; a setting recorded as none chosen is the preset's default."""
    values: dict[str, Any] = {"prompt": prefill.get("prompt", "")}
    for name in SETTINGS:
        value = prefill.get(name)
        if value == "" and name in ("lighting", "camera", "background"):
            value = PRESET_DEFAULT
        if value not in (None, ""):
            values[name] = value
    return values


def chosen_size(settled: Mapping[str, Any]) -> str:
    """The size a settled form asks for: the typed one for a custom size, blank for the starting image's shape."""
    if settled["size"] == CUSTOM_SIZE:
        return settled["custom_size"]
    return "" if settled["size"] == SAME_SHAPE else settled["size"]


def _makes(spec: ModelSpec, kind: str) -> bool:
    return any(KINDS[f] == kind for f in spec.formats)


def _number(value: Any, bounds: tuple[int, int, int]) -> int:
    low, high, default = bounds
    return value if type(value) is int and low <= value <= high else default


def _within(value: Any, offered: list[str], fallback: str) -> str:
    return value if value in offered else fallback


def _rewrite_key(value: Any, sent_as_shown: bool) -> str:
    """The rewrite the prompt came from, kept only while the prompt is sent as shown (raw, a new image)."""
    return value if sent_as_shown and isinstance(value, str) and REWRITE_KEY.fullmatch(value) else ""


def _blank_default(value: str) -> str:
    return "" if value == PRESET_DEFAULT else value
