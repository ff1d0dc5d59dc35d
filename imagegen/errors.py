"""The engine's errors: each carries a message a user can act on and the CLI's exit code."""

from __future__ import annotations

from datetime import datetime

from imagegen.redact import redact


class ImagegenError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code = 1
    code = "error"
    #: whether the provider may have billed for the request that failed
    charged = False

    def __init__(self, message: str) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message


class SettingsError(ImagegenError):
    exit_code = 2
    code = "bad_setting"


class InvalidRequest(ImagegenError):
    """The request cannot be served as asked; nothing was sent or charged."""

    exit_code = 2
    code = "invalid_request"


class InvalidPrompt(InvalidRequest):
    """The prompt itself cannot be sent: empty, nothing visible, or longer than the model takes."""


class LimitReached(ImagegenError):
    """A quota or the team budget has no room for the request."""

    exit_code = 3

    def __init__(self, message: str, *, limit: str, remaining: float, resets_at: datetime) -> None:
        super().__init__(message)
        self.limit = limit
        self.code = f"{limit}_exhausted"
        self.remaining = remaining
        self.resets_at = resets_at


class ContentRejected(ImagegenError):
    exit_code = 4
    code = "content_rejected"


class ProviderError(ImagegenError):
    """The image provider failed; `charged` says whether it may have billed."""

    code = "provider_error"


class RateLimited(ProviderError):
    code = "rate_limited"


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"


class ModelUnavailable(ProviderError):
    code = "model_unavailable"


class ProviderTimeout(ProviderError):
    """No answer in time: the provider may still render and bill, so this is ambiguous."""

    code = "provider_timeout"
    charged = True


class BadImage(ProviderError):
    """The provider answered with something that is not the image asked for."""

    code = "bad_image"
    charged = True


class LedgerUnavailable(ImagegenError):
    """The database could not be read or written: nothing is generated (fail closed)."""

    code = "ledger_unavailable"


class StorageError(ImagegenError):
    code = "storage_error"


class NotFound(ImagegenError):
    code = "not_found"
    exit_code = 2


class Forbidden(ImagegenError):
    code = "forbidden"
    exit_code = 2
