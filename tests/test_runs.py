"""Runs of many prompts: planned and priced whole before anything is spent, all or nothing refused whole or
reserved whole at once, as far as it goes admitting exactly what fits (across two replicas too), cancelled
at $0, and every result on the run's board."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from imagegen import GenerationRequest, InvalidRequest, LimitReached, NotFound, Settings, Studio
from imagegen.runs import ALL_OR_NOTHING, AS_FAR_AS_IT_GOES


def team(data_dir: Path, quota: int = 5, **settings) -> Studio:
    return Studio(Settings(data_dir=data_dir, daily_quota=quota, **{"offline_delay": 0, **settings}))


def finished(studio: Studio, run_id: str, user: str = "ann", timeout: float = 60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = studio.run_status(run_id, user)
        if status.finished:
            return status
        time.sleep(0.05)
    raise TimeoutError(f"run {run_id} still going: {status.counts}")


def rows(studio: Studio, table: str) -> int:
    return studio._engine.db.query(f"SELECT COUNT(*) FROM {table}")[0][0]


def test_a_run_is_planned_request_by_request_and_priced_before_anything_is_spent(data_dir):
    studio = team(data_dir)
    run = studio.plan_run("ann", prompts="a fox\n\n  a bird  \n", presets=["photo", "cinematic"], sizes=["1024x1024"])
    assert [(i.prompt, i.preset, i.size) for i in run.items] == [
        ("a fox", "photo", "1024x1024"), ("a fox", "cinematic", "1024x1024"),
        ("a bird", "photo", "1024x1024"), ("a bird", "cinematic", "1024x1024"),
    ]  # fmt: skip
    assert run.images == 4 and run.fits_whole and run.fitting() == 4
    assert len({i.request.request_id for i in run.items}) == 4
    assert rows(studio, "generations") == 0 and rows(studio, "jobs") == 0  # planning spends nothing
    five = studio.plan_run("ann", prompts="a\nb\nc", presets=["photo", "cinematic"], sizes=["1024x1024"])
    assert not five.fits_whole and five.fitting() == 5  # a quota of 5 holds the first five of six


@pytest.mark.parametrize(
    ("prompts", "csv_bytes", "presets", "says"),
    [
        ("\n  \n", None, ["photo"], "at least one prompt"),
        ("a fox", None, [], "at least one preset"),
        ("a fox", None, ["no-such-preset"], r"Request 1 \('a fox', no-such-preset"),
        ("\n".join(f"prompt {i}" for i in range(151)), None, ["photo", "cinematic"], "at most 300"),
        ("", b"\xff\xfe\x00bad", ["photo"], "could not be read"),
    ],
)
def test_a_run_that_cannot_be_made_is_refused_with_what_to_change(data_dir, prompts, csv_bytes, presets, says):
    studio = team(data_dir)
    with pytest.raises(InvalidRequest, match=says):
        studio.plan_run("ann", prompts=prompts, csv_bytes=csv_bytes, presets=presets, sizes=["1024x1024"])


def test_a_csv_of_prompts_is_read_from_its_first_column_without_its_header(data_dir):
    studio = team(data_dir)
    run = studio.plan_run(
        "ann", csv_bytes=b"prompt,notes\na red fox,x\n=cmd(),y\n", presets=["photo"], sizes=["1024x1024"]
    )
    assert [i.prompt for i in run.items] == ["a red fox", "=cmd()"]


def test_all_or_nothing_is_refused_whole_when_it_does_not_fit_and_nothing_is_kept(data_dir, database_url):
    studio = team(data_dir, quota=5, database_url=database_url)
    run = studio.plan_run("ann", prompts="a\nb\nc", presets=["photo", "cinematic"], sizes=["1024x1024"])
    with pytest.raises(LimitReached, match="This run needs 6 images"):
        studio.start_run(run, "ann", ALL_OR_NOTHING)
    for table in ("generations", "jobs", "runs", "run_items", "boards"):
        assert rows(studio, table) == 0, table
    assert studio.allowance("ann").images_left == 5
    studio.stop_jobs()


def test_all_or_nothing_reserves_the_whole_run_at_once_and_puts_every_result_on_its_board(data_dir):
    studio = team(data_dir, quota=6)
    run = studio.plan_run("ann", prompts="a red fox\na blue bird", presets=["photo", "cinematic"], sizes=["1024x1024"])
    run_id = studio.start_run(run, "ann", ALL_OR_NOTHING, name="Animals")
    status = finished(studio, run_id)
    assert status.counts == {"succeeded": 4}
    board = studio.board(status.board_id, "ann")
    assert board.name == "Animals" and board.images == 4
    assert studio.allowance("ann").images_left == 2
    assert studio.check_invariants() == []
    studio.stop_jobs()


def test_as_far_as_it_goes_admits_exactly_what_fits_across_two_replicas(data_dir, database_url):
    first, second = (team(data_dir, quota=15, workers=2, database_url=database_url) for _ in range(2))
    second.start_jobs()  # another server on the same database takes items from the same queue
    run = first.plan_run(
        "ann", prompts="\n".join(f"icon {i}" for i in range(10)), presets=["photo", "cinematic"], sizes=["1024x1024"]
    )
    assert run.images == 20 and run.fitting() == 15
    run_id = first.start_run(run, "ann", AS_FAR_AS_IT_GOES)
    status = finished(first, run_id, timeout=120)
    assert status.counts == {"succeeded": 15, "failed": 5}
    assert {i["error"][:27] for i in status.items if i["status"] == "failed"} == {"Daily image quota reached: "}
    assert first.board(status.board_id, "ann").images == 15
    assert first.allowance("ann").images_left == 0 and first.check_invariants() == []
    for studio in (first, second):
        studio.stop_jobs()


def test_cancelling_a_run_stops_its_queued_items_at_no_cost_and_releases_what_it_held(data_dir):
    studio = team(data_dir, quota=10, workers=1, offline_delay=0.5)
    run = studio.plan_run("ann", prompts="a\nb\nc\nd\ne\nf", presets=["photo"], sizes=["1024x1024"])
    run_id = studio.start_run(run, "ann", ALL_OR_NOTHING)
    assert studio.allowance("ann").images_left == 4  # the whole run is held at once
    cancelled = studio.cancel_run(run_id, "ann")
    status = finished(studio, run_id)
    assert cancelled >= 4 and status.counts.get("cancelled") == cancelled
    assert status.counts.get("succeeded", 0) + cancelled == 6
    assert studio.allowance("ann").images_left == 10 - status.counts.get("succeeded", 0)
    refunded = studio._engine.db.query("SELECT COUNT(*) FROM generations WHERE status = 'refunded'")[0][0]
    assert refunded == cancelled and studio.check_invariants() == []
    with pytest.raises(Exception, match="someone else's"):
        studio.cancel_run(run_id, "bob")
    studio.stop_jobs()


def test_a_run_on_openai_reports_what_it_was_charged_and_keeps_its_items_out_of_the_users_own_jobs(openai_studio):
    studio = openai_studio
    single = studio.submit(GenerationRequest("one of my own", size="1024x1024"), "ann")
    run = studio.plan_run("ann", prompts="a red fox\na blue bird", presets=["photo"], sizes=["1024x1024"])
    run_id = studio.start_run(run, "ann", AS_FAR_AS_IT_GOES)
    status = finished(studio, run_id)
    assert status.counts == {"succeeded": 2} and status.images == 2
    charged = studio._engine.db.query(
        "SELECT SUM(actual_micros) FROM generations WHERE id IN (SELECT job_id FROM run_items WHERE run_id = :id)",
        {"id": run_id},
    )[0][0]
    assert status.spent_micros == charged > 0
    assert status.estimated_micros == run.reserve_micros >= charged
    assert [job.id for job in studio.jobs_for("ann", limit=8)] == [single]  # the run's items are the run's
    studio.stop_jobs()


def test_a_run_started_twice_with_its_id_is_one_run_and_an_id_is_checked(data_dir):
    studio = team(data_dir, quota=6)
    run = studio.plan_run("ann", prompts="a fox\na bird", presets=["photo"], sizes=["1024x1024"], run_id="0a1b2c3d4e5f")
    first = studio.start_run(run, "ann", ALL_OR_NOTHING)
    again = studio.plan_run("ann", prompts="a fox\na bird", presets=["photo"], sizes=["1024x1024"], run_id=first)
    assert studio.start_run(again, "ann", ALL_OR_NOTHING) == first == "0a1b2c3d4e5f"
    finished(studio, first)
    assert rows(studio, "runs") == 1 and rows(studio, "run_items") == 2 and rows(studio, "boards") == 1
    assert studio.allowance("ann").images_left == 4
    with pytest.raises(NotFound):
        studio.start_run(again, "bob", ALL_OR_NOTHING)
    for bad in ("../x", "ABCDEF12", "12", 7):
        with pytest.raises(InvalidRequest, match="hex digits"):
            studio.plan_run("ann", prompts="a fox", presets=["photo"], sizes=["1024x1024"], run_id=bad)
    studio.stop_jobs()
