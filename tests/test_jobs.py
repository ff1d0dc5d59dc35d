"""Jobs a user can cancel: only before a worker starts them, and then nothing is reserved or charged."""

import threading

from imagegen import GenerationRequest, JobRunner, Studio


def test_a_queued_job_is_cancelled_free_and_a_running_one_runs_to_its_end(db_settings):
    studio = Studio(db_settings)
    release, rendering = threading.Event(), threading.Event()
    render = studio.provider.render

    def held_render(job, on_partial):
        rendering.set()
        release.wait(30)
        return render(job, on_partial)

    studio.provider.render = held_render
    runner = JobRunner(studio, workers=1)
    try:
        first = runner.submit(GenerationRequest("a fox", request_id="first-request"), "ann")
        second = runner.submit(GenerationRequest("a cat", request_id="second-request"), "ann")
        assert rendering.wait(30)
        assert not runner.cancel(second, "bob")  # not bob's job
        assert runner.cancel(second, "ann")
        assert not runner.cancel(first, "ann")  # already sent: it runs to its end
        release.set()
        assert runner.wait(first, timeout=30).status == "succeeded"
    finally:
        release.set()
        runner.shutdown()
    cancelled = runner.job(second)
    assert cancelled.status == "cancelled" and not cancelled.active
    assert studio.ledger.generation(second) is None  # never reserved
    assert studio.allowance("ann").images_used == 1
    assert studio.ledger.check_invariants() == []


def test_a_retry_is_shown_within_its_stage_and_gone_once_the_job_ends(db_settings):
    studio = Studio(db_settings)
    release, retried = threading.Event(), threading.Event()
    render = studio.provider.render

    def retried_render(job, on_partial):
        job.on_retry(2, 3, 5.0, "the image service is rate limiting us")
        retried.set()
        release.wait(30)
        return render(job, on_partial)

    studio.provider.render = retried_render
    runner = JobRunner(studio, workers=1)
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
        done = runner.wait(job_id, timeout=30)
    finally:
        release.set()
        runner.shutdown()
    assert done.status == "succeeded" and done.retry_note() is None
    assert [m["stage"] for m in done.stages if m["stage"] != "retrying"][-1] == "saving"
