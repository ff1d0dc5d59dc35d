"""Input a user, a script or a page sends, checked before anything is spent."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import replace
from typing import Any

from imagegen.errors import InvalidPrompt, InvalidRequest
from imagegen.request import GenerationRequest

MAX_USER_LENGTH = 200
NOTHING_VISIBLE = "Write a prompt: say what the image should show."
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
#: a kept rewrite's key: a SHA-256 in hex
REWRITE_KEY = re.compile(r"[0-9a-f]{64}")
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
KEPT_CONTROLS = {"\n", "\t"}
#: what `visible` does not count as something a person can see (with every space)
INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Mn"})
_TEXT_FIELDS = (
    "prompt", "preset", "model", "size", "quality", "output_format", "background", "lighting", "camera",
    "edit_of", "input_fidelity", "svg_author", "svg_effort", "rewrite",
)  # fmt: skip


def check_request(request: Any) -> tuple[GenerationRequest, list[str]]:
    """The request with every field of the right type and its prompt cleaned, and what was cleaned away.

    Raises InvalidRequest naming the field for a wrong type: the Python API takes what scripts send."""
    if not isinstance(request, GenerationRequest):
        raise InvalidRequest("A request is a GenerationRequest.")
    for name in _TEXT_FIELDS:
        value = getattr(request, name)
        if not isinstance(value, str):
            raise InvalidRequest(f"{name} must be text, not {type(value).__name__}.")
    if not isinstance(request.request_id, str) or not _REQUEST_ID.fullmatch(request.request_id):
        raise InvalidRequest("A request id is 8 to 64 letters, digits, '-' or '_'.")
    if type(request.n) is not int:
        raise InvalidRequest(f"n is a whole number of images, not {type(request.n).__name__}.")
    if request.compression is not None and type(request.compression) is not int:
        raise InvalidRequest(f"Compression is a whole percentage 0 to 100, not {request.compression!r}.")
    for name in ("frame_count", "frame_duration_ms"):
        value = getattr(request, name)
        if value is not None and type(value) is not int:
            raise InvalidRequest(f"{name} is a whole number, not {value!r}.")
    if type(request.raw) is not bool:
        raise InvalidRequest("raw is true or false.")
    if type(request.team_colours) is not bool:
        raise InvalidRequest("team_colours is true or false.")
    if request.rewrite and not REWRITE_KEY.fullmatch(request.rewrite):
        raise InvalidRequest("rewrite is the key of a kept rewrite: 64 hex digits.")
    prompt, removed = clean_text(request.prompt)
    if not visible(prompt):
        raise InvalidPrompt(NOTHING_VISIBLE)
    notes = [f"Removed {removed} control or escape character(s) from the prompt."] if removed else []
    short_fields = {name: clean_text(getattr(request, name))[0].strip() for name in _TEXT_FIELDS if name != "prompt"}
    return replace(request, prompt=prompt, **short_fields), notes


def clean_text(text: str) -> tuple[str, int]:
    """Text without terminal escapes, NUL or other control characters (newlines and tabs stay)."""
    without_escapes = ANSI.sub("", text)
    kept = "".join(c for c in without_escapes if c in KEPT_CONTROLS or unicodedata.category(c) != "Cc")
    return kept, len(text) - len(kept)


def visible(text: str) -> bool:
    """Whether the text has anything a person can see: not only spaces and invisible format characters."""
    return any(not c.isspace() and unicodedata.category(c) not in INVISIBLE_CATEGORIES for c in text)


def check_user(user: Any) -> str:
    """The one rule for a user's name, whatever the way in (page, proxy, OIDC, CLI): 1 to MAX_USER_LENGTH
    printable characters, something visible among them, no control, line break, tab or invisible format
    character; spaces around it are dropped."""
    if not isinstance(user, str):
        raise InvalidRequest("Say who is generating: a user is text.")
    user = user.strip()
    if not user:
        raise InvalidRequest("Say who is generating: a user name is required.")
    if not is_user_name(user):
        raise InvalidRequest(f"A user name is at most {MAX_USER_LENGTH} printable characters.")
    return user


def is_user_name(name: str) -> bool:
    return 0 < len(name) <= MAX_USER_LENGTH and name == name.strip() and name.isprintable() and visible(name)


def scoped_id(user: str, request_id: str) -> str:
    """The ledger's id for a user's request id: the same id from another user is another request."""
    return hashlib.sha256(f"{user}\n{request_id}".encode()).hexdigest()[:32]
