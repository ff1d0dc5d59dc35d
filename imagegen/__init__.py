"""imagegen: a team's image-generation studio. This module is the public face of the engine.

Each name is imported when it is first used, so that a command (`python -m imagegen --help`) or a page
loads only what it uses: the studio with its database driver, pandas for the admin's figures.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagegen.accounts import Identity, check_proxy_headers
    from imagegen.boards import ROLES as BOARD_ROLES
    from imagegen.boards import VISIBILITIES as BOARD_VISIBILITIES
    from imagegen.boards import Board
    from imagegen.boards import Member as BoardMember
    from imagegen.catalog import Catalog, ModelSpec
    from imagegen.copydb import copy_studio_database
    from imagegen.director import DirectedPrompt, DirectorOptions, PresetBook, direct, load_presets
    from imagegen.doctor import check_setup
    from imagegen.edits import EditInputs
    from imagegen.errors import (
        BadImage,
        ContentRejected,
        Forbidden,
        ImagegenError,
        InvalidPrompt,
        InvalidRequest,
        LedgerUnavailable,
        LimitReached,
        ModelUnavailable,
        NotFound,
        ProviderError,
        ProviderTimeout,
        ProviderUnavailable,
        RateLimited,
        SettingsError,
        StorageError,
    )
    from imagegen.form import (
        CUSTOM_SIZE,
        FRAME_MS,
        FRAMES,
        PRESET_DEFAULT,
        SAME_SHAPE,
        SETTINGS,
        FormChoices,
        prefilled,
    )
    from imagegen.history import HistoryFilter, HistoryPage
    from imagegen.jobs import Job
    from imagegen.limits import MAX_BUDGET_USD, MAX_QUOTA_IMAGES, Allowance
    from imagegen.masks import MAX_MASK_BYTES
    from imagegen.money import usd
    from imagegen.names import alt_text, counted, drawn_layer, markup_from_drawing, mask_from_painting
    from imagegen.planning import Plan
    from imagegen.redact import csv_cell
    from imagegen.redact import redact as hide_secrets
    from imagegen.request import CONTENT_TYPES, GenerationRequest, GenerationResult, Usage, new_request_id
    from imagegen.reviews import Decision as ReviewDecision
    from imagegen.rewriting import DESCRIBER, Rewrite
    from imagegen.runs import MODES as RUN_MODES
    from imagegen.runs import RunPlan, RunStatus
    from imagegen.schema import migrate_database
    from imagegen.settings import Settings, is_loopback
    from imagegen.studio import RENDITION_EDGES, STAGES, Studio
    from imagegen.textrules import text_tables
    from imagegen.uploads import MAX_UPLOAD_BYTES, Upload

#: where each public name lives ("module:attribute" where the name differs: a submodule's name is taken)
_HOMES: dict[str, str] = {
    "Allowance": "imagegen.limits",
    "BadImage": "imagegen.errors",
    "Board": "imagegen.boards",
    "BoardMember": "imagegen.boards:Member",
    "BOARD_ROLES": "imagegen.boards:ROLES",
    "BOARD_VISIBILITIES": "imagegen.boards:VISIBILITIES",
    "ReviewDecision": "imagegen.reviews:Decision",
    "RUN_MODES": "imagegen.runs:MODES",
    "RunPlan": "imagegen.runs",
    "RunStatus": "imagegen.runs",
    "CONTENT_TYPES": "imagegen.request",
    "CUSTOM_SIZE": "imagegen.form",
    "FRAMES": "imagegen.form",
    "FRAME_MS": "imagegen.form",
    "Catalog": "imagegen.catalog",
    "ContentRejected": "imagegen.errors",
    "DirectedPrompt": "imagegen.director",
    "DirectorOptions": "imagegen.director",
    "EditInputs": "imagegen.edits",
    "Forbidden": "imagegen.errors",
    "FormChoices": "imagegen.form",
    "GenerationRequest": "imagegen.request",
    "Rewrite": "imagegen.rewriting",
    "DESCRIBER": "imagegen.rewriting",
    "GenerationResult": "imagegen.request",
    "HistoryFilter": "imagegen.history",
    "HistoryPage": "imagegen.history",
    "Identity": "imagegen.accounts",
    "ImagegenError": "imagegen.errors",
    "InvalidPrompt": "imagegen.errors",
    "InvalidRequest": "imagegen.errors",
    "Job": "imagegen.jobs",
    "LedgerUnavailable": "imagegen.errors",
    "LimitReached": "imagegen.errors",
    "MAX_BUDGET_USD": "imagegen.limits",
    "MAX_QUOTA_IMAGES": "imagegen.limits",
    "ModelSpec": "imagegen.catalog",
    "ModelUnavailable": "imagegen.errors",
    "NotFound": "imagegen.errors",
    "PRESET_DEFAULT": "imagegen.form",
    "Plan": "imagegen.planning",
    "PresetBook": "imagegen.director",
    "ProviderError": "imagegen.errors",
    "ProviderTimeout": "imagegen.errors",
    "ProviderUnavailable": "imagegen.errors",
    "RateLimited": "imagegen.errors",
    "SAME_SHAPE": "imagegen.form",
    "SETTINGS": "imagegen.form",
    "RENDITION_EDGES": "imagegen.studio",
    "STAGES": "imagegen.studio",
    "Settings": "imagegen.settings",
    "SettingsError": "imagegen.errors",
    "StorageError": "imagegen.errors",
    "Studio": "imagegen.studio",
    "Upload": "imagegen.uploads",
    "Usage": "imagegen.request",
    "alt_text": "imagegen.names",
    "check_proxy_headers": "imagegen.accounts",
    "counted": "imagegen.names",
    "check_setup": "imagegen.doctor",
    "copy_studio_database": "imagegen.copydb",
    "migrate_database": "imagegen.schema",
    "MAX_MASK_BYTES": "imagegen.masks",
    "MAX_UPLOAD_BYTES": "imagegen.uploads",
    "csv_cell": "imagegen.redact",
    "for_display": "imagegen.imaging",
    "hide_secrets": "imagegen.redact:redact",
    "direct": "imagegen.director",
    "drawn_layer": "imagegen.masks",
    "is_loopback": "imagegen.settings",
    "load_presets": "imagegen.director",
    "markup_from_drawing": "imagegen.masks",
    "mask_from_painting": "imagegen.masks",
    "new_request_id": "imagegen.request",
    "prefilled": "imagegen.form",
    "text_tables": "imagegen.textrules",
    "usd": "imagegen.money",
}

__all__ = [
    "BOARD_ROLES",
    "BOARD_VISIBILITIES",
    "CONTENT_TYPES",
    "CUSTOM_SIZE",
    "DESCRIBER",
    "FRAMES",
    "FRAME_MS",
    "MAX_BUDGET_USD",
    "MAX_QUOTA_IMAGES",
    "PRESET_DEFAULT",
    "SAME_SHAPE",
    "SETTINGS",
    "RENDITION_EDGES",
    "STAGES",
    "Allowance",
    "BadImage",
    "Board",
    "BoardMember",
    "ReviewDecision",
    "RUN_MODES",
    "RunPlan",
    "RunStatus",
    "Catalog",
    "ContentRejected",
    "DirectedPrompt",
    "DirectorOptions",
    "EditInputs",
    "Forbidden",
    "FormChoices",
    "GenerationRequest",
    "Rewrite",
    "GenerationResult",
    "HistoryFilter",
    "HistoryPage",
    "Identity",
    "ImagegenError",
    "InvalidPrompt",
    "InvalidRequest",
    "Job",
    "LedgerUnavailable",
    "LimitReached",
    "ModelSpec",
    "ModelUnavailable",
    "NotFound",
    "Plan",
    "PresetBook",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "Settings",
    "SettingsError",
    "StorageError",
    "Studio",
    "Upload",
    "Usage",
    "alt_text",
    "check_proxy_headers",
    "counted",
    "check_setup",
    "for_display",
    "copy_studio_database",
    "migrate_database",
    "MAX_MASK_BYTES",
    "MAX_UPLOAD_BYTES",
    "csv_cell",
    "hide_secrets",
    "direct",
    "drawn_layer",
    "is_loopback",
    "load_presets",
    "markup_from_drawing",
    "mask_from_painting",
    "new_request_id",
    "prefilled",
    "text_tables",
    "usd",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'imagegen' has no attribute {name!r}")
    module, _, attribute = home.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
