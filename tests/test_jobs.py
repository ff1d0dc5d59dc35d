"""Jobs a user can cancel: only before a worker starts them, and then nothing is reserved or charged."""

import threading

from imagegen import GenerationRequest, JobRunner, Studio


def test_a_queued_job_is_cancelled_free_and_a_running_one_runs_to_its_end(offline_settings):
    studio = Studio(offline_settings)
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
