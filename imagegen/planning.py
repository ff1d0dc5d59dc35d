"""A request resolved, checked, directed and priced before anything is spent: one plan, used by the page's
preview, the submit and the worker alike."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from imagegen.catalog import ModelSpec, normalise_size
from imagegen.checks import check_request, clean_text
from imagegen.director import DirectedPrompt, DirectorOptions, Preset, browser_plan, direct, in_colours
from imagegen.edits import EditInputs, check_edit, closest_size
from imagegen.engine import Engine
from imagegen.errors import InvalidRequest
from imagegen.money import to_micros
from imagegen.request import BACKGROUNDS, FORMATS, GenerationRequest
from imagegen.rewriting import kept_rewrite


@dataclass(frozen=True)
class Plan:
    """What a request will do, worked out before anything is spent: the page's live preview."""

    request: GenerationRequest
    spec: ModelSpec
    directed: DirectedPrompt
    #: what it usually costs
    estimated_cost: Decimal
    #: the most the provider can bill for it: what is reserved
    max_cost: Decimal
    warnings: list[str] = field(default_factory=list)
    #: what an edit sends besides the prompt (None for a new image)
    edit: EditInputs | None = None
    #: the kept rewrite the prompt came from, as the image's record keeps it (None: the user's own words)
    rewrite: dict[str, Any] | None = None

    @property
    def estimated_micros(self) -> int:
        return to_micros(self.estimated_cost)

    @property
    def reserve_micros(self) -> int:
        return to_micros(self.max_cost)


def team_today(engine: Engine) -> date:
    """Today in the team's time zone: the one day quotas, budgets and model lifecycles are counted in."""
    return engine.settings.today()


def usable_models(engine: Engine, on: date | None = None) -> list[ModelSpec]:
    """The models this deployment can use on a day (today by default), in catalog order; shut-down ones
    only on compatible servers."""
    on = on or team_today(engine)
    if engine.settings.provider == "offline":
        return [engine.catalog.get("offline")]
    usable = [m for m in engine.catalog.models() if m.family != "offline"]
    if not engine.settings.openai_base_url:
        usable = [m for m in usable if m.lifecycle_on(on) != "shut_down"]
    return usable


def resolve(engine: Engine, request: GenerationRequest, edit: EditInputs | None = None) -> GenerationRequest:
    """The request with every blank filled from the model's and the preset's defaults; an edit's size from
    the shape of its starting image."""
    model = request.model or engine.settings.default_model
    spec = engine.catalog.get(model)
    size = request.size
    if not size and edit is not None:
        size = closest_size(spec.size_choices(), edit.first.width, edit.first.height)
    preset = engine.presets.get(default_preset(engine, request))
    background = request.background
    if not background and request.kind == "picture":  # an animation or a logo keeps the API's own default
        background = preset.background if preset.background in spec.backgrounds else ""
        if background == "transparent" and request.output_format == "jpeg":
            background = "auto"
    return replace(
        request,
        preset=preset.name,
        model=model,
        size=normalise_size(size or spec.default_size),
        quality=request.quality or spec.default_quality,
        background=background,
    )


def plan(engine: Engine, request: GenerationRequest, edit: EditInputs | None = None, on: date | None = None) -> Plan:
    """Validate and direct a request, and price it; with `edit`, an edit of its images (see edits.py).
    `on` is the team's day the models' lifecycles are read on (today by default). Raises InvalidRequest
    with what to change."""
    on = on or team_today(engine)
    request, notes = check_request(request)
    if request.output_format not in FORMATS:
        raise InvalidRequest(f"Output format {request.output_format!r} is not one of {', '.join(FORMATS)}.")
    if request.background and request.background not in BACKGROUNDS:
        raise InvalidRequest(f"Background {request.background!r} is not one of {', '.join(BACKGROUNDS)}.")
    request = resolve(engine, with_inputs(request, edit), edit)
    spec = engine.catalog.get(request.model)
    preset = directing_preset(engine, request)
    options = DirectorOptions(raw=request.raw, lighting=request.lighting, camera=request.camera)
    directed = direct(request.prompt, preset, options, spec.prompt_max)
    settings = engine.settings
    warnings = engine.catalog.validate(request, directed.text, custom_endpoint=bool(settings.openai_base_url), today=on)
    if spec.family == "offline" and settings.provider != "offline":
        raise InvalidRequest("The offline renderer is only used when no provider is configured.")
    if spec.family != "offline" and settings.provider == "offline":
        raise InvalidRequest(f"{spec.id} needs a provider: set OPENAI_API_KEY (see the README).")
    if edit is not None:
        warnings += check_edit(engine.catalog, usable_models(engine, on), spec, request, edit)
    cost = engine.catalog.estimate_cost(request, directed.text, edit.priced_sizes() if edit else [])
    bound = engine.catalog.max_cost(request, directed.text, edit.priced_sizes(bound=True) if edit else [])
    return Plan(request, spec, directed, cost, bound, notes + warnings, edit, written_up(engine, request))


def written_up(engine: Engine, request: GenerationRequest) -> dict[str, Any] | None:
    """The kept rewrite a request's prompt came from; InvalidRequest when it names one that is not kept."""
    if not request.rewrite:
        return None
    kept = kept_rewrite(engine, request.rewrite)
    if kept is None:
        raise InvalidRequest("The rewrite this prompt came from is not kept here: write it up again.")
    return kept


def plan_for_browser(engine: Engine, request: GenerationRequest) -> dict:
    """What a browser needs to direct this request's prompt as it is typed, exactly as `plan` will: the
    Director's template and keywords for its preset and options, and its model's length limit."""
    spec = engine.catalog.get(request.model or engine.settings.default_model)
    lighting, camera = (clean_text(text)[0].strip() for text in (request.lighting, request.camera))
    options = DirectorOptions(raw=request.raw is True, lighting=lighting, camera=camera)
    return browser_plan(directing_preset(engine, request), options, spec.prompt_max)


def directing_preset(engine: Engine, request: GenerationRequest) -> Preset:
    """The preset the Director follows: the request's (or its kind's first), in the team's colours when
    the request asks for them and an admin has set some."""
    preset = engine.presets.get(default_preset(engine, request))
    return in_colours(preset, engine.team.palette()) if request.team_colours else preset


def default_preset(engine: Engine, request: GenerationRequest) -> str:
    """The request's preset, or when it names none the first one written for its kind of asset."""
    return request.preset or engine.presets.names_for(editing=False, kind=request.kind)[0]


def with_inputs(request: GenerationRequest, edit: EditInputs | None) -> GenerationRequest:
    """The request naming what its edit sends, by content: the same edit asked twice is one request."""
    if edit is None:
        if request.is_edit or request.mask or request.markup:
            raise InvalidRequest("This edit's images are not here any more: open the image and edit it again.")
        return replace(request, edit_of="", input_fidelity="")
    return edit.applied_to(request)
