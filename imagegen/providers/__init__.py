"""Image backends behind one interface, by name: an explicit table of the providers the studio has."""

from __future__ import annotations

from collections.abc import Callable

from imagegen.errors import SettingsError
from imagegen.providers.base import PartialCallback, Provider, RenderedImage, RenderJob, RenderOutput
from imagegen.settings import Settings

ProviderFactory = Callable[[Settings], Provider]


def _offline(settings: Settings) -> Provider:
    from imagegen.providers.offline import make_offline  # each backend's imports only when it is used

    return make_offline(settings)


def _openai(settings: Settings) -> Provider:
    from imagegen.providers.openai_images import make_openai

    return make_openai(settings)


def _azure(settings: Settings) -> Provider:
    from imagegen.providers.openai_images import make_azure

    return make_azure(settings)


#: the provider named by IMAGEGEN_PROVIDER (or chosen from the keys set), and what makes it
PROVIDERS: dict[str, ProviderFactory] = {"offline": _offline, "openai": _openai, "azure": _azure}


def make_provider(settings: Settings) -> Provider:
    try:
        factory = PROVIDERS[settings.provider]
    except KeyError:
        raise SettingsError(
            f"No image provider named {settings.provider!r}: use one of {', '.join(PROVIDERS)}."
        ) from None
    return factory(settings)


__all__ = [
    "PROVIDERS",
    "PartialCallback",
    "Provider",
    "RenderJob",
    "RenderOutput",
    "RenderedImage",
    "make_provider",
]
