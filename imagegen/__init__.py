"""imagegen: a team's image-generation studio. This module is the public face of the engine."""

from imagegen.accounts import Identity, check_proxy_headers
from imagegen.analytics import Analytics
from imagegen.catalog import Catalog, ModelSpec
from imagegen.director import DirectedPrompt, DirectorOptions, PresetBook, direct, load_presets
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
from imagegen.history import HistoryFilter, HistoryPage
from imagegen.jobs import Job, JobRunner
from imagegen.ledger import Allowance
from imagegen.masks import drawn_layer, markup_from_drawing, mask_from_painting
from imagegen.request import GenerationRequest, GenerationResult, Usage, new_request_id
from imagegen.settings import Settings
from imagegen.studio import STAGES, Plan, Studio
from imagegen.textrules import text_tables
from imagegen.uploads import Upload

__all__ = [
    "STAGES",
    "Allowance",
    "Analytics",
    "BadImage",
    "Catalog",
    "ContentRejected",
    "DirectedPrompt",
    "DirectorOptions",
    "EditInputs",
    "Forbidden",
    "GenerationRequest",
    "GenerationResult",
    "HistoryFilter",
    "HistoryPage",
    "Identity",
    "ImagegenError",
    "InvalidPrompt",
    "InvalidRequest",
    "Job",
    "JobRunner",
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
    "check_proxy_headers",
    "direct",
    "drawn_layer",
    "load_presets",
    "markup_from_drawing",
    "mask_from_painting",
    "new_request_id",
    "text_tables",
]
