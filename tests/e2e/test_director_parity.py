"""The browser's Director (ui/director.js) against the server's (imagegen/director.py with the prompt checks
of imagegen/checks.py), in Chromium: for every preset and option, tricky and random prompts, and limits that
make it drop keywords, the page must show exactly what the server will send, or refuse with its words."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest

from imagegen import DirectorOptions, GenerationRequest, InvalidPrompt, direct, load_presets, text_tables
from imagegen.checks import check_request
from imagegen.director import browser_plan
from ui.prompt_box import director_script

pytestmark = pytest.mark.e2e

BOOK = load_presets()
OPTIONS = [
    DirectorOptions(),
    DirectorOptions(raw=True),
    DirectorOptions(lighting=BOOK.lighting_choices[0], camera=BOOK.camera_choices[-1]),
    DirectorOptions(lighting="  Soft   Natural light ", camera="4K"),  # overrides as typed, and repeated
]
TRICKY = [
    "a car",
    "A cat, Soft Natural Light, 4K",
    "an inauthentic smile",
    "authentic_ smile, _authentic, authentic2, photo-realistic, photorealistic's glow",
    "  lots   of\n\nspace\t\tand\u00a0no-break\u2003em\u3000ideographic  ",
    "İstanbul at NIGHT, ΟΔΟΣ Σ, STRASSE straße, ǅemal",
    "a fox 🦊🦊 in the snow \U0001d400\U0001d401",
    "\x1b[31mred\x1b[0m fox \x1b]0;title\x07 with a \x00bell\x07 and \x7f\x9b",
    "\u200b\u200b",
    "\u200b a fox \u200d",
    "e\u0301te\u0301 cafe\u0301",
    "professional photograph, professional photograph",
    "4\u212a, sharp ſocus, ﬀ",
    "\ufeffa byte order mark",
    "",
    "   ",
    "\n\t",
    "\x1b[0m",
    "x" * 4_100,
]


def python_result(prompt: str, options: DirectorOptions, preset: str, limit: int) -> dict:
    """What the server makes of a prompt as typed: the Generate page's blank check, `check_request`'s
    cleaning and visibility check, then the Director (as Studio.plan runs them)."""
    if not prompt.strip():
        return {"kind": "blank"}
    try:
        cleaned = check_request(GenerationRequest(prompt=prompt))[0].prompt
        directed = direct(cleaned, BOOK.get(preset), options, limit)
    except InvalidPrompt as exc:
        return {"kind": "error", "message": exc.message}
    segments = [list(segment) for segment in directed.segments]
    return {"kind": "directed", "text": directed.text, "segments": segments, "added": len(directed.additions),
            "dropped": len(directed.dropped)}  # fmt: skip


def limits_for(prompt: str, options: DirectorOptions, preset: str) -> list[int]:
    """The usual limit, and limits just under the full text, between, and at the prompt alone."""
    full = python_result(prompt, options, preset, 32_000)
    if full["kind"] != "directed":
        return [32_000, 1_000]
    user = len(full["segments"][0][0])
    return sorted({32_000, len(full["text"]), len(full["text"]) - 1, (len(full["text"]) + user) // 2, user + 3, user})


@pytest.fixture(scope="module")
def director(browser) -> Iterator[object]:
    tab = browser.new_page()
    tab.set_content("<!doctype html><title>director</title>")
    tab.add_script_tag(content=director_script())  # the very script the Generate page ships
    yield tab
    tab.close()


def compare(director, cases: list[tuple[str, DirectorOptions, str, int]]) -> None:
    plans: dict[str, int] = {}
    calls = []
    for prompt, options, preset, limit in cases:  # each plan sent once: the calls name theirs
        plan = json.dumps(browser_plan(BOOK.get(preset), options, limit))
        calls.append([prompt, plans.setdefault(plan, len(plans))])
    answer = director.evaluate(  # one string each way: Playwright is slow to carry large structures
        """(payload) => { const [plans, calls] = JSON.parse(payload);
                          const parsed = plans.map((plan) => JSON.parse(plan));
                          return JSON.stringify(calls.map(([prompt, plan]) => DIRECTOR.live(prompt, parsed[plan]))); }""",
        json.dumps([list(plans), calls]),
    )
    browser = json.loads(answer)
    wrong = []
    for (prompt, options, preset, limit), shown in zip(cases, browser, strict=True):
        expected = python_result(prompt, options, preset, limit)
        if shown != expected:
            wrong.append(f"{preset} {options} limit {limit} {prompt[:60]!r}:\n  browser {shown}\n  server  {expected}")
    assert not wrong, f"{len(wrong)} of {len(cases)} differ; the first:\n" + "\n".join(wrong[:3])


def test_every_preset_and_option_directs_tricky_prompts_as_the_server_does(director):
    cases = [
        (prompt, options, preset, limit)
        for preset in BOOK.presets
        for options in OPTIONS
        for prompt in TRICKY
        for limit in limits_for(prompt, options, preset)
    ]
    assert len(cases) > 2_000
    compare(director, cases)


def test_random_prompts_are_directed_as_the_server_does(director):
    pool = list("abcdefghijklmnopqrstuvwxyz ABCKS4,.-'_\n\t") + [
        "soft natural light", "4K", "photorealistic", "HIGH DETAIL", "\x1b[1m", "\x1b", "\x00", "\u200b",
        "\u00a0", "\u2028", "\u0301", "İ", "ß", "Σ", "ſ", "\u212a", "🦊", "\U0001d400", "\ufeff", "\x85", "\x1c",
    ]  # fmt: skip
    shuffle = random.Random(20261126)
    presets = list(BOOK.presets)
    cases = []
    for _ in range(3_000):
        prompt = "".join(shuffle.choice(pool) for _ in range(shuffle.randint(0, 30)))
        options = shuffle.choice(OPTIONS)
        preset = shuffle.choice(presets)
        cases.append((prompt, options, preset, shuffle.choice(limits_for(prompt, options, preset))))
    compare(director, cases)


def test_the_character_tables_are_read_right_at_every_edge_of_every_range(director):
    """Each table's ranges, at their first and last code point and just outside: a character that is a word
    character, a space, a control or invisible must change the result exactly as it does on the server."""
    tables = text_tables()
    edges = sorted(
        {
            code + step
            for name in ("word", "space", "control", "invisible")
            for first, last in tables[name]
            for code, step in ((first, -1), (first, 0), (last, 0), (last, 1))
        }
    )
    characters = [chr(code) for code in edges if 0 <= code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF]
    folds = [c for c, folded in tables["fold"].items() if folded.isascii()]
    preset = "photo"
    cases = []
    for c in characters + folds:
        cases += [
            (f"a{c}authentic{c}b", OPTIONS[0], preset, 32_000),  # a word character joins "authentic" to a word
            (f"x{c}y z", OPTIONS[1], preset, 32_000),  # a space splits, a control is taken out
            (c, OPTIONS[1], preset, 32_000),  # nothing visible, or something
            (f"sharp {c}ocus 4{c}", OPTIONS[0], preset, 32_000),  # folds onto a keyword
        ]
    compare(director, cases)
