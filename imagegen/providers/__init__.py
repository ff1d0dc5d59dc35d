"""Image backends behind one interface, looked up by name."""

from __future__ import annotations

from collections.abc import Callable

from imagegen.errors import SettingsError
from imagegen.providers.base import PartialCallback, Provider, RenderedImage, RenderJob, RenderOutput
from imagegen.settings import Settings

ProviderFactory = Callable[[Settings], Provider]
_REGISTRY: dict[str, ProviderFactory] = {}


def register(name: str) -> Callable[[ProviderFactory], ProviderFactory]:
    def add(factory: ProviderFactory) -> ProviderFactory:
        _REGISTRY[name] = factory
        return factory

    return add


def make_provider(settings: Settings) -> Provider:
    _load_builtins()
    try:
        factory = _REGISTRY[settings.provider]
    except KeyError:
        raise SettingsError(
            f"No image provider named {settings.provider!r}: use one of {', '.join(_REGISTRY)}."
        ) from None
    return factory(settings)


def _load_builtins() -> None:
    from imagegen.providers import offline, openai_images  # noqa: F401  (registration on import)


__all__ = [
    "PartialCallback",
    "Provider",
    "RenderJob",
    "RenderOutput",
    "RenderedImage",
    "make_provider",
    "register",
]
