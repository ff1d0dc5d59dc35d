"""The Runs page through Streamlit's AppTest: every request listed and priced before anything is spent, what
today's limits hold said plainly, a run started once however often the button is pressed, its progress
followed to its board, and a run too big refused with nothing kept."""

from __future__ import annotations

import time

import pytest

from imagegen import Settings, Studio
from tests.test_pages import app, texts
from ui import runtime


@pytest.fixture
def quota_of_five(env):
    env.setenv("IMAGEGEN_DAILY_QUOTA", "5")
    return env


def runs_page():
    at = app()
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    return at


def choose(at, prompts: str, presets: list[str], sizes: list[str] | None = None):
    next(t for t in at.text_area if t.label == "Prompts, one per line").input(prompts)
    next(m for m in at.multiselect if m.label == "Style presets").set_value(presets)
    if sizes is not None:
        next(m for m in at.multiselect if m.label == "Sizes").set_value(sizes)
    at.run()
    assert not at.exception
    return at


def table(at) -> list[dict]:
    [frame] = at.dataframe
    return frame.value.to_dict("records")


def counts(studio: Studio) -> dict[str, int]:
    db = studio._engine.db
    return {t: db.query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("generations", "jobs", "runs", "boards")}


def start_button(at):
    return next(b for b in at.button if b.label.startswith("Start the run"))


def test_every_request_is_listed_and_priced_and_what_fits_is_said_before_anything_is_spent(quota_of_five):
    at = choose(runs_page(), "a red fox\n\n**a bird** <b>\na boat", ["photo", "cinematic"], ["1024x1024"])
    rows = table(at)
    assert [(r["#"], r["Prompt"], r["Preset"]) for r in rows] == [
        (1, "a red fox", "photo"), (2, "a red fox", "cinematic"), (3, "**a bird** <b>", "photo"),
        (4, "**a bird** <b>", "cinematic"), (5, "a boat", "photo"), (6, "a boat", "cinematic"),
    ]  # fmt: skip
    assert {m.label: m.value for m in at.metric}["Requests"] == "6"
    said = texts(at)
    assert "You have 5 images left today" in said and "the first 5 of 6 requests" in said
    mode = next(r for r in at.radio if r.label == "How")
    assert mode.value == "as far as it goes"  # what does not fit whole is not offered first as all or nothing
    assert start_button(at).label == "Start the run of 6 images"
    assert counts(Studio(Settings.from_env())) == {"generations": 0, "jobs": 0, "runs": 0, "boards": 0}


def test_all_or_nothing_that_does_not_fit_is_refused_on_the_page_and_nothing_is_kept(quota_of_five):
    at = choose(runs_page(), "a\nb\nc", ["photo", "cinematic"], ["1024x1024"])
    next(r for r in at.radio if r.label == "How").set_value("all").run()
    start_button(at).click().run()
    assert "This run needs 6 images" in texts(at) and "Nothing was reserved" in texts(at)
    assert counts(Studio(Settings.from_env())) == {"generations": 0, "jobs": 0, "runs": 0, "boards": 0}


def test_a_run_started_twice_is_one_run_followed_to_its_board(quota_of_five):
    at = choose(runs_page(), "a red fox\na blue bird", ["photo"], ["1024x1024"])
    next(t for t in at.text_input if t.label == "Board name for the results").input("Animals")
    button = start_button(at)
    at.session_state["r_mode"] = "all"
    button.click().run()
    assert not at.exception
    studio = Studio(Settings.from_env())
    [run] = studio.runs("ann")
    deadline = time.time() + 60
    while not studio.run_status(run.id, "ann").finished and time.time() < deadline:
        time.sleep(0.05)
    at.run()
    assert "Animals" in [s.value for s in at.header]
    assert "2 of 2 requests settled: 2 done" in [p.proto.text for p in at.get("progress")]
    [link] = [p for p in at.get("page_link") if p.proto.label.startswith("Open its board")]
    assert link.proto.label == "Open its board (2 images so far)" and run.board_id in link.proto.query_string
    assert studio.board(run.board_id, "ann").images == 2
    assert studio.allowance("ann").images_left == 3
    # the same plan pressed again (a double click arriving late) is the run already started
    studio.start_run(studio.plan_run("ann", prompts="a red fox\na blue bird", presets=["photo"],
                                     sizes=["1024x1024"], run_id=run.id), "ann", "all")  # fmt: skip
    assert counts(studio)["runs"] == 1 and studio.allowance("ann").images_left == 3


def test_a_run_too_big_is_refused_with_what_to_change(env):
    at = choose(runs_page(), "\n".join(f"product {i}" for i in range(101)), ["photo", "cinematic"], ["1024x1024"])
    assert "This run would make 202 images; a run makes at most" not in texts(at)  # 202 is within 300
    at = choose(runs_page(), "\n".join(f"product {i}" for i in range(151)), ["photo", "cinematic"], ["1024x1024"])
    assert "This run would make 302 images; a run makes at most 300" in texts(at)
    assert not at.dataframe and not [b for b in at.button if b.label.startswith("Start the run")]


def test_the_batch_api_is_offered_with_its_window_and_unconfirmed_price_only_where_the_provider_takes_it(
    env, fake_openai
):
    offline = choose(runs_page(), "a red fox", ["photo"], ["1024x1024"])
    offered = next(r for r in offline.radio if r.label == "How").options
    assert len(offered) == 2 and not any("Batch API" in o for o in offered)
    env.setenv("IMAGEGEN_PROVIDER", "openai")
    env.setenv("OPENAI_API_KEY", "sk-test")
    env.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    runtime._read.cache_clear()  # a server reads its environment once: this is another server
    try:
        sent_as_one_batch(fake_openai)
    finally:
        runtime.studio().stop_jobs()  # its sweep would go on reading a batch the next test's fake forgot


def sent_as_one_batch(fake_openai) -> None:
    at = choose(runs_page(), "a red fox\na blue bird", ["photo"], ["1024x1024"])
    how = next(r for r in at.radio if r.label == "How")
    [label] = [o for o in how.options if "Batch API" in o]
    assert "within 24 hours" in label and "no discount is confirmed for images" in label
    how.set_value("batch").run()
    start_button(at).click().run()
    assert not at.exception
    assert sum(r["_path"].endswith("/batches") for r in fake_openai.requests) == 1  # sent as one batch at once
    assert "0 of 2 requests settled: 2 waiting" in [p.proto.text for p in at.get("progress")]
