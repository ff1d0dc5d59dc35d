"""The engine's rules for prompt text, as data a browser can follow: which characters are spaces, word
characters, control characters or invisible, and how each one case-folds, all taken from this Python's own
Unicode tables. With them the Generate page directs a prompt while it is typed exactly as the server will
(ui/director.js), whatever Unicode version the browser has."""

from __future__ import annotations

import array
import re
import sys
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from imagegen.checks import ANSI, INVISIBLE_CATEGORIES, KEPT_CONTROLS, NOTHING_VISIBLE
from imagegen.director import EMPTY, TOO_LONG


def _ranges(codes: Iterable[int]) -> list[list[int]]:
    """Code points as [first, last] runs."""
    runs: list[list[int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return runs


def _runs(pattern: str, text: str) -> list[list[int]]:
    return [[m.start(), m.end() - 1] for m in re.finditer(pattern, text)]


@lru_cache(maxsize=1)
def text_tables() -> dict:
    """The tables ui/director.js reads (computed once per process, in under a second)."""
    everything = array.array("I", range(sys.maxunicode + 1)).tobytes().decode("utf-32-le", "surrogatepass")
    categories = list(map(unicodedata.category, everything))
    spaces = {m.start() for m in re.finditer(r"\s", everything)}
    return {
        "space": _runs(r"\s+", everything),
        "word": _runs(r"\w+", everything),
        "control": _ranges(i for i, c in enumerate(categories) if c == "Cc" and chr(i) not in KEPT_CONTROLS),
        "invisible": _ranges(i for i, c in enumerate(categories) if c in INVISIBLE_CATEGORIES or i in spaces),
        "fold": {c: c.casefold() for c in everything if c.casefold() != c},
        "ansi": ANSI.pattern,
        "messages": {"nothing_visible": NOTHING_VISIBLE, "empty": EMPTY, "too_long": TOO_LONG},
    }
