"""Jobs a user can cancel: only before a worker starts them, and then nothing is reserved or charged."""

import json
import threading
import time

from imagegen import GenerationRequest, Settings, Studio
from imagegen.jobs import JobRunner
from tests.engine_parts import wait_for


def test_a_queued_job_is_cancelled_free_and_a_running_one_runs_to_its_end(db_settings):
    studio = Studio(db_settings)
    release, rendering = threading.Event(), threading.Event()
    render = studio._engine.provider.render

    def held_render(job, on_partial):
        rendering.set()
        release.wait(30)
        return render(job, on_partial)

    studio._engine.provider.render = held_render
    runner = JobRunner(studio._engine, workers=1)
    try:
        first = runner.submit(GenerationRequest("a fox", request_id="first-request"), "ann")
        second = runner.submit(GenerationRequest("a cat", request_id="second-request"), "ann")
        assert rendering.wait(30)
        assert not runner.cancel(second, "bob")  # not bob's job
        assert runner.cancel(second, "ann")
        assert not runner.cancel(first, "ann")  # already sent: it runs to its end
        release.set()
        assert wait_for(runner, first, timeout=30).status == "succeeded"
    finally:
        release.set()
        runner.shutdown()
    cancelled = runner.job(second)
    assert cancelled.status == "cancelled" and not cancelled.active
    assert studio._engine.ledger.generation(second) is None  # never reserved
    assert studio.allowance("ann").images_used == 1
    assert studio.check_invariants() == []


def test_a_retry_is_shown_within_its_stage_and_gone_once_the_job_ends(db_settings):
    studio = Studio(db_settings)
    release, retried = threading.Event(), threading.Event()
    render = studio._engine.provider.render

    def retried_render(job, on_partial):
        job.on_retry(2, 3, 5.0, "the image service is rate limiting us")
        retried.set()
        release.wait(30)
        return render(job, on_partial)

    studio._engine.provider.render = retried_render
    runner = JobRunner(studio._engine, workers=1)
    try:
        job_id = runner.submit(GenerationRequest("a fox", request_id="retried-request"), "ann")
        assert retried.wait(30)
        job = runner.job(job_id)
        retry = job.stages[-1]
        assert job.stage == "rendering" and retry["stage"] == "retrying"
        assert job.retry_note(retry["at"] + 1) == (
            "Retrying: the image service is rate limiting us. Asking again in 4s (attempt 2 of 3); "
            "nothing was charged for it."
        )
        assert job.retry_note(retry["at"] + 5) == (
            "Retrying: the image service is rate limiting us. Asked again (attempt 2 of 3); nothing was charged for it."
        )
        release.set()
        done = wait_for(runner, job_id, timeout=30)
    finally:
        release.set()
        runner.shutdown()
    assert done.status == "succeeded" and done.retry_note() is None
    assert [m["stage"] for m in done.stages if m["stage"] != "retrying"][-1] == "saving"


# -- one queue shared by every process on the database ---------------------------------------------------


def counted_renders(studio: Studio, ran: list[str], gate: threading.Event | None = None) -> None:
    """Record which process renders each job (and hold the renders until the gate opens)."""
    render = studio._engine.provider.render

    def counting(job, on_partial):
        ran.append(job.request.request_id)
        if gate is not None:
            gate.wait(30)
        return render(job, on_partial)

    studio._engine.provider.render = counting


def test_jobs_queued_on_one_process_are_taken_by_any_free_one_each_exactly_once(db_settings):
    settings = Settings(**{**db_settings.__dict__, "daily_quota": 50})
    first, second = Studio(settings), Studio(settings)
    ran_first: list[str] = []
    ran_second: list[str] = []
    gate = threading.Event()
    counted_renders(first, ran_first, gate)  # the submitting process's one worker is held on its first job
    counted_renders(second, ran_second)
    submitting = JobRunner(first._engine, workers=1)
    helping = JobRunner(second._engine, workers=2)
    try:
        ids = [submitting.submit(GenerationRequest(f"a fox {i}", request_id=f"shared-{i}"), "ann") for i in range(8)]
        deadline = time.time() + 30
        while len(ran_second) < 7 and time.time() < deadline:
            time.sleep(0.01)
        gate.set()
        jobs = [wait_for(submitting, job_id, timeout=60) for job_id in ids]
    finally:
        gate.set()
        submitting.shutdown()
        helping.shutdown()
    assert [job.status for job in jobs] == ["succeeded"] * 8
    assert len(ran_first) == 1 and len(ran_second) == 7  # the free process took the rest of the queue
    assert sorted(ran_first + ran_second) == sorted(job.request.request_id for job in jobs)  # each rendered once
    owners = {row[0] for row in first._engine.db.query("SELECT DISTINCT owner FROM jobs")}
    assert owners == {submitting.owner, helping.owner}
    assert first.allowance("ann").images_used == 8
    assert first.check_invariants() == []


def test_an_edit_waits_for_a_process_on_the_disk_that_holds_its_inputs(tmp_path, postgres_url):
    here = Studio(Settings(data_dir=tmp_path / "here", provider="offline", offline_delay=0, database_url=postgres_url))
    there = Studio(
        Settings(data_dir=tmp_path / "there", provider="offline", offline_delay=0, database_url=postgres_url)
    )
    original = here.image(here.generate(GenerationRequest("a red fox"), "ann").image_key)
    gate = threading.Event()
    ran_here: list[str] = []
    ran_there: list[str] = []
    counted_renders(here, ran_here, gate)
    counted_renders(there, ran_there)
    busy = JobRunner(here._engine, workers=1)
    elsewhere = None
    try:
        busy.submit(GenerationRequest("a cat", request_id="holds-the-worker"), "ann")
        deadline = time.time() + 30
        while not ran_here and time.time() < deadline:
            time.sleep(0.01)
        elsewhere = JobRunner(there._engine, workers=2)
        edit = here.prepare_edit([here.starting_image(original["key"])], parent_key=original["key"])
        edit_id = busy.submit(GenerationRequest("add a scarf", request_id="pinned-edit"), "ann", edit)
        plain_id = busy.submit(GenerationRequest("a plain owl", request_id="anyones-job"), "ann")
        assert wait_for(elsewhere, plain_id, timeout=30).status == "succeeded"
        assert busy.job(edit_id).status == "queued"  # the other disk has no inputs for it: it waits
        gate.set()
        assert wait_for(busy, edit_id, timeout=30).status == "succeeded"
    finally:
        gate.set()
        busy.shutdown()
        if elsewhere is not None:
            elsewhere.shutdown()
    assert ran_there == ["anyones-job"] and sorted(ran_here) == ["holds-the-worker", "pinned-edit"]


def test_a_job_whose_process_died_before_reserving_goes_back_to_the_queue(db_settings):
    studio = Studio(db_settings)
    with studio._engine.db.write() as conn:
        conn.execute(
            'INSERT INTO jobs (id, "user", status, stage, request, created_at, started_at, owner, heartbeat_at) '
            "VALUES ('claimed-then-died', 'ann', 'running', 'directing', :request, 1, 2, 'dead-host:9', 3)",
            {"request": json.dumps(GenerationRequest("a fox", request_id="claimed-then-died").to_dict())},
        )
    runner = JobRunner(Studio(db_settings)._engine, workers=1)
    try:
        assert runner.recover(stale_after=60)["requeued"] == ["claimed-then-died"]
        job = wait_for(runner, "claimed-then-died", timeout=30)
    finally:
        runner.shutdown()
    assert job.status == "succeeded" and studio.allowance("ann").images_used == 1


def test_a_request_is_done_once_its_job_has_ended_and_only_for_its_user(offline_settings):
    studio = Studio(offline_settings)
    request = GenerationRequest("a fox", request_id="clicked-once")
    assert not studio.is_done(request, "ann")
    try:
        job_id = studio.submit(request, "ann")
        assert wait_for(studio, job_id).status == "succeeded"
        assert studio.is_done(request, "ann") and not studio.is_done(request, "bob")
    finally:
        studio.stop_jobs()
