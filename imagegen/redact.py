"""Keeping secrets out of messages, and user text out of spreadsheets' formula engines."""

from __future__ import annotations

import re
import threading

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
# Key shapes of the providers we talk to, for a key this process was never told about: OpenAI's keys, AWS
# access key ids (long-term and temporary), a bearer token, and an AWS secret key written as a setting.
_KEY_PATTERNS = re.compile(
    r"\b(sk-[A-Za-z0-9_-]{8,}|(?:AKIA|ASIA)[0-9A-Z]{16})\b"
    r"|(?i:bearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|(?i:(?:aws_)?secret_access_key[\"']?\s*[=:]\s*[\"']?)[A-Za-z0-9/+=]{16,}"
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MASK = "[redacted]"


def register_secret(value: str) -> None:
    """A credential this process holds: it is masked in every message relayed from now on."""
    if value and len(value) >= 6:
        with _LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return _KEY_PATTERNS.sub(MASK, text)


def csv_cell(value: object) -> object:
    """A cell a spreadsheet shows as text: one that starts like a formula gets a leading quote (OWASP)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
