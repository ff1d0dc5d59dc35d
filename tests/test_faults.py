"""Money and images under faults and hostile input: each case is caused for real, then checked."""

import os
import signal
import threading
import time
from decimal import Decimal

import pytest

from imagegen import GenerationRequest, InvalidRequest, LedgerUnavailable, Settings, StorageError, Studio
from imagegen import jobs as jobs_module
from imagegen.checks import scoped_id
from imagegen.jobs import JobRunner
from imagegen.ledger import Ledger
from tests.engine_parts import wait_for


def dead_child(settings: Settings, before_death, request: GenerationRequest | None = None) -> None:
    """Run a generation in a forked child that SIGKILLs itself at the moment `before_death` patches in."""
    pid = os.fork()
    if pid == 0:
        try:
            studio = Studio(settings)
            before_death(studio, lambda: os.kill(os.getpid(), signal.SIGKILL))
            studio.generate(request or GenerationRequest("a paid fox", request_id="killed-1"), "ann")
        finally:
            os._exit(3)  # only reached if the kill did not happen
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_sigkill_right_after_the_answer_loses_nothing_and_charges_what_was_billed(offline_settings):
    def die_while_verifying(studio, die):
        import imagegen.pipeline as pipeline

        pipeline.imaging.verify_image = lambda *a, **k: die()

    dead_child(offline_settings, die_while_verifying)
    studio = Studio(offline_settings)
    ledger_id = scoped_id("ann", "killed-1")
    assert studio._engine.ledger.generation(ledger_id)["status"] == "reserved"
    outcome = studio.reconcile()
    assert outcome["uploaded"] == [ledger_id]
    row = studio._engine.ledger.generation(ledger_id)
    assert row["status"] == "committed"
    [item] = studio.history().items
    assert item["prompt"] == "a paid fox" and studio._engine.library.original(item)
    assert studio.check_invariants() == []


def test_sigkill_during_the_provider_call_expires_as_possibly_billed_never_at_zero(openai_settings, fake_openai):
    def die_while_rendering(studio, die):
        studio._engine.provider.render = lambda job, on_partial: die()

    dead_child(openai_settings, die_while_rendering)
    studio = Studio(openai_settings)
    ledger_id = scoped_id("ann", "killed-1")
    reserved = studio._engine.ledger.generation(ledger_id)["estimated_micros"]
    assert studio._engine.ledger.expire_stale(now=time.time() + openai_settings.reservation_ttl + 1) == [ledger_id]
    row = studio._engine.ledger.generation(ledger_id)
    assert row["status"] == "ambiguous" and row["actual_micros"] == reserved > 0
    assert studio.allowance("ann").spent_micros == reserved
    assert studio.check_invariants() == []


@pytest.mark.parametrize(
    "request_",
    [
        GenerationRequest("a paid fox", model="gpt-image-2.6-flare", quality="low", n=2, request_id="killed-1"),
        GenerationRequest("a paid fox", model="dall-e-3", quality="standard", request_id="killed-1"),
    ],
    ids=["streamed", "json"],
)
def test_sigkill_after_the_answer_arrived_before_it_was_spooled_keeps_and_charges_it(
    openai_settings, fake_openai, request_
):
    def die_before_spooling(studio, die):
        import imagegen.pipeline as pipeline

        pipeline.Generation.keep_raw = lambda *a, **k: die()

    dead_child(openai_settings, die_before_spooling, request_)
    studio = Studio(openai_settings)
    ledger_id = scoped_id("ann", "killed-1")
    assert studio._engine.ledger.generation(ledger_id)["status"] == "reserved"
    assert studio.reconcile()["uploaded"] == [ledger_id]
    row = studio._engine.ledger.generation(ledger_id)
    assert row["status"] == "committed" and 0 < row["actual_micros"] <= row["estimated_micros"]
    if request_.model.startswith("gpt-image"):
        assert row["output_tokens"] > 0  # charged from the usage the kept answer reported
    items = studio.history().items
    assert len(items) == request_.n and all(studio._engine.library.original(item) for item in items)
    assert items[0]["prompt"] == "a paid fox"
    assert studio._engine.spool.pending() == [] and studio._engine.spool.answered() == []
    assert studio.check_invariants() == []


def test_sigkill_while_the_answer_arrives_drops_it_and_expires_as_possibly_billed(openai_settings, fake_openai):
    def die_at_the_first_preview(studio, die):
        from imagegen.providers import openai_images

        openai_images._b64 = lambda data: die()  # the first image decoded is the first preview

    request = GenerationRequest("a paid fox", model="gpt-image-2.6-flare", quality="low", request_id="killed-1")
    fake_openai.mid_stream = threading.Event()  # the answer stops after its first event: the rest never comes
    try:
        dead_child(openai_settings, die_at_the_first_preview, request)
    finally:
        fake_openai.mid_stream.set()
    studio = Studio(openai_settings)
    ledger_id = scoped_id("ann", "killed-1")
    assert studio.reconcile()["uploaded"] == []
    assert studio._engine.spool.answered() == [] and not (openai_settings.data_dir / "spool" / ledger_id).exists()
    studio._engine.ledger.expire_stale(now=time.time() + openai_settings.reservation_ttl + 1)
    row = studio._engine.ledger.generation(ledger_id)
    assert row["status"] == "ambiguous" and row["actual_micros"] == row["estimated_micros"] > 0
    assert studio.check_invariants() == []


def test_a_reservation_that_never_reached_the_provider_expires_at_zero(tmp_path):
    ledger = Ledger(Studio(Settings(data_dir=tmp_path, offline_delay=0))._engine.db, Settings(data_dir=tmp_path))
    ledger.reserve(ledger_id="never-sent", user="ann", n=1, estimated_micros=5000, details={})
    ledger.expire_stale(now=time.time() + 10_000)
    row = ledger.generation("never-sent")
    assert row["status"] == "expired" and row["actual_micros"] == 0
    assert ledger.limits.allowance("ann").spent_micros == 0


def test_leftover_staging_folders_are_cleaned(studio, data_dir):
    (data_dir / "spool" / ".staging-abc-123").mkdir(parents=True)
    (data_dir / "spool" / "half-written").mkdir()
    studio.reconcile()
    assert sorted(p.name for p in (data_dir / "spool").iterdir()) == []


def test_a_commit_after_another_server_recorded_it_as_possibly_billed_charges_the_delivery(studio):
    ledger = studio._engine.ledger
    ledger.reserve(ledger_id="late", user="ann", n=1, estimated_micros=9000, details={})
    ledger.record_ambiguous("late", error_code="interrupted", message="owner looked dead")
    assert ledger.limits.allowance("ann").spent_micros == 9000
    assert ledger.commit("late", actual_micros=7000, image_keys=["k"]) is True
    allowance = ledger.limits.allowance("ann")
    assert allowance.spent_micros == 7000 and allowance.images_used == 1
    assert ledger.generation("late")["status"] == "committed"


def test_a_commit_of_an_unknown_request_raises_instead_of_passing_silently(studio):
    from imagegen import LedgerUnavailable

    with pytest.raises(LedgerUnavailable, match="No reservation"):
        studio._engine.ledger.commit("never-reserved", actual_micros=1)


def test_a_preview_that_cannot_be_saved_does_not_fail_the_render(offline_settings, data_dir):
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "previews").write_text("a file where the previews folder should be")
    studio = Studio(Settings(**{**offline_settings.__dict__, "offline_delay": 0.2}))
    runner = JobRunner(studio._engine, workers=1)
    try:
        job = wait_for(runner, runner.submit(GenerationRequest("a fox"), "ann"), timeout=30)
    finally:
        runner.shutdown()
    assert job.status == "succeeded", job.error
    assert studio.check_invariants() == []


def test_a_hung_sweep_never_stops_the_heartbeat(offline_settings, monkeypatch):
    monkeypatch.setattr(jobs_module, "HEARTBEAT_SECONDS", 0.05)
    monkeypatch.setattr(jobs_module, "SWEEP_SECONDS", 0.05)
    release, rendering = threading.Event(), threading.Event()
    studio = Studio(offline_settings)
    studio.reconcile = lambda: release.wait(30)  # storage hangs inside the sweep

    def slow_render(job, on_partial):
        rendering.set()
        release.wait(30)
        raise RuntimeError("stopped by the test")

    studio._engine.provider.render = slow_render
    runner = JobRunner(studio._engine, workers=1)
    try:
        job_id = runner.submit(GenerationRequest("a fox"), "ann")
        assert rendering.wait(10)
        first = studio._engine.db.query("SELECT heartbeat_at FROM jobs WHERE id = :id", {"id": job_id})[0][0]
        time.sleep(0.5)
        later = studio._engine.db.query("SELECT heartbeat_at FROM jobs WHERE id = :id", {"id": job_id})[0][0]
        assert later > first + 0.2
    finally:
        release.set()
        runner.shutdown()


@pytest.mark.parametrize("request_id", ["good-id-1\n", "good id 1", "../../x/y/z", "a" * 65, "ab"])
def test_a_malformed_request_id_is_refused_before_anything_is_spent(studio, request_id):
    with pytest.raises(InvalidRequest, match="request id"):
        studio.generate(GenerationRequest("a fox", request_id=request_id), "ann")
    assert studio._engine.db.query("SELECT COUNT(*) FROM generations")[0][0] == 0


def test_a_request_id_reused_by_another_user_is_another_request(studio):
    mine = studio.generate(GenerationRequest("my secret fox", request_id="shared-id-1"), "ann")
    theirs = studio.generate(GenerationRequest("a whale", request_id="shared-id-1"), "bob")
    assert theirs.prompt == "a whale" and theirs.image_keys != mine.image_keys
    assert studio.allowance("bob").images_used == 1 and studio.allowance("ann").images_used == 1
    again = studio.generate(GenerationRequest("my secret fox", request_id="shared-id-1"), "ann")
    assert again.image_keys == mine.image_keys and studio.allowance("ann").images_used == 1


def test_the_budget_is_never_exceeded_when_real_usage_differs_from_the_estimate(openai_settings, fake_openai):
    """Each reservation is an upper bound of what the provider can bill, so bursts end within the budget."""
    settings = Settings(**{**openai_settings.__dict__, "daily_budget_usd": Decimal("0.40"), "daily_quota": 100})
    studio = Studio(settings)
    results, errors = [], []

    def one(index: int) -> None:
        try:
            results.append(
                studio.generate(
                    GenerationRequest(
                        f"fox number {index} " * (index + 1), model="gpt-image-2.6-sunburst", quality="auto"
                    ),
                    "ann",
                )
            )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results and errors  # some admitted, the rest refused by the budget
    allowance = studio.allowance("ann")
    assert allowance.spent_micros + allowance.in_flight_micros <= 400_000
    for result in results:
        row = studio._engine.ledger.generation(result.id)
        assert row["actual_micros"] <= row["estimated_micros"]
    assert studio.check_invariants() == []


@pytest.mark.parametrize(
    ("corrupt", "finds"),
    [
        ("UPDATE user_day SET images_committed = images_committed + 7", "over quota"),
        ("UPDATE user_day SET images_reserved = images_reserved + 1", "counters"),
        ("UPDATE team_day SET committed_micros = committed_micros + 1", "counters"),
        ("UPDATE generations SET budget_micros = -1", "over budget"),
        ("UPDATE generations SET actual_micros = estimated_micros + 1", "above its reservation"),
        ("UPDATE generations SET image_keys = '[]'", "has no image"),
        ("UPDATE generations SET status = 'refunded'", "without a charge"),
    ],
)
def test_the_invariant_check_finds_each_kind_of_breach(studio, corrupt, finds):
    studio.generate(GenerationRequest("a fox"), "ann")
    assert studio.check_invariants() == []
    with studio._engine.db.write() as conn:
        conn.execute(corrupt)
    assert any(finds in problem for problem in studio.check_invariants())


def test_a_hung_store_holds_one_generation_not_every_one(data_dir, aws_credentials):
    from tests.fakes.blackhole import BlackHole

    hole = BlackHole()
    settings = Settings(data_dir=data_dir, offline_delay=0, storage="s3", s3_bucket="b", s3_endpoint_url=hole.endpoint)
    studio = Studio(settings)
    try:
        first = studio.generate(GenerationRequest("one fox"), "ann")
        tried = len(hole.held)
        second = studio.generate(GenerationRequest("two foxes"), "ann")
        assert first.pending_upload and second.pending_upload
        assert tried == 1  # the first upload gave up after one attempt: the user is told at its first failure
        assert len(hole.held) == tried  # the second did not wait on the hung store again
        assert {i["prompt"] for i in studio.history().items} == {"one fox", "two foxes"}
    finally:
        hole.close()


def test_a_failure_before_the_request_leaves_is_refunded_not_charged(openai_settings, fake_openai):
    """As with an SDK too old for a parameter: it raises TypeError before sending anything."""
    from imagegen.providers.openai_images import OpenAIImages, make_client

    class TooOldSDK(OpenAIImages):
        def _params(self, job):
            return {**super()._params(job), "parameter_this_sdk_lacks": 1}

    client, sent, _ = make_client(openai_settings)
    studio = Studio(openai_settings, provider=TooOldSDK(client, sent=sent))
    with pytest.raises(Exception, match="could not be sent") as raised:
        studio.generate(GenerationRequest("a fox", model="gpt-image-2", request_id="old-sdk-1"), "ann")
    assert not raised.value.charged and "not charged" in raised.value.message
    assert fake_openai.requests == []
    row = studio._engine.ledger.generation(scoped_id("ann", "old-sdk-1"))
    assert row["status"] == "refunded" and row["error_code"] == "not_sent" and row["actual_micros"] == 0
    assert row["total_ms"] is not None and row["render_ms"] is not None and "TypeError" in row["error_message"]
    assert "An admin can see the log." in row["error_message"]
    assert studio.allowance("ann").spent_micros == 0


def test_a_failure_after_the_request_left_is_possibly_billed(openai_settings, fake_openai):
    from imagegen.providers.openai_images import OpenAIImages, make_client

    class BrokenAfterSending(OpenAIImages):
        def _render_streaming(self, call, params, on_partial):
            super()._render_streaming(call, params, on_partial)
            raise RuntimeError("lost the answer")

    client, sent, _ = make_client(openai_settings)
    studio = Studio(openai_settings, provider=BrokenAfterSending(client, sent=sent))
    with pytest.raises(Exception, match="may have been charged") as raised:
        studio.generate(GenerationRequest("a fox", model="gpt-image-2", request_id="sent-after-1"), "ann")
    assert raised.value.charged
    row = studio._engine.ledger.generation(scoped_id("ann", "sent-after-1"))
    assert row["status"] == "ambiguous" and row["actual_micros"] == row["estimated_micros"] > 0
    assert row["error_code"] == "bad_image" and row["render_ms"] is not None and row["total_ms"] is not None


def test_an_answer_without_images_is_possibly_billed(studio):
    from imagegen import BadImage
    from imagegen.providers import RenderOutput

    studio._engine.provider.render = lambda job, on_partial: RenderOutput(images=[])
    with pytest.raises(BadImage, match="without any image") as raised:
        studio.generate(GenerationRequest("a fox", request_id="empty-answer"), "ann")
    assert raised.value.charged
    assert studio._engine.ledger.generation(scoped_id("ann", "empty-answer"))["status"] == "ambiguous"
    assert studio.history().items == []


def test_a_disk_that_fills_after_the_room_check_still_keeps_the_paid_image(studio):
    import errno

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    studio._engine.spool.keep_raw = full_disk
    result = studio.generate(GenerationRequest("a fox on a full disk"), "ann")
    assert not result.pending_upload and result.timings_ms["store"] >= 0 and result.timings_ms["total"] > 0
    [item] = studio.history().items
    assert item["prompt"] == "a fox on a full disk" and studio.image_bytes(item)
    assert studio._engine.ledger.generation(result.id)["status"] == "committed"
    assert studio.check_invariants() == []
    assert (
        studio._engine.spool.answered() == [] and studio._engine.spool.pending() == []
    )  # nothing left to settle twice
    assert studio.reconcile()["uploaded"] == []


def test_a_stopped_postgresql_fails_closed_and_the_studio_recovers_when_it_returns(
    data_dir, postgres_server, postgres_url
):
    studio = Studio(Settings(data_dir=data_dir, provider="offline", offline_delay=0, database_url=postgres_url))
    studio.generate(GenerationRequest("a fox before"), "ann")
    postgres_server.pause()
    try:
        with pytest.raises(LedgerUnavailable) as refused:
            studio.generate(GenerationRequest("a fox while it is down"), "ann")
        assert not refused.value.charged and "Nothing was generated or charged" in refused.value.message
        assert "postgresql://" not in refused.value.message
    finally:
        postgres_server.resume()
    assert not any(studio._engine.settings.spool_dir.glob("*/*"))  # nothing was rendered while it was down
    studio.generate(GenerationRequest("a fox after"), "ann")  # the pool's dead connections were dropped
    assert [i["prompt"] for i in studio.history().items] == ["a fox after", "a fox before"]
    assert studio.allowance("ann").images_used == 2
    assert studio.check_invariants() == []


def test_a_data_folder_that_cannot_be_made_fails_closed_with_a_clear_message(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    studio = Studio(Settings(data_dir=blocker / "data", provider="offline", offline_delay=0))
    with pytest.raises(LedgerUnavailable, match="cannot create the folder .*not-a-folder/data") as refused:
        studio.allowance("ann")
    assert "Nothing was generated or charged" in refused.value.message
    with pytest.raises((LedgerUnavailable, StorageError)) as refused:  # the spool's check may come first
        studio.generate(GenerationRequest("a fox"), "ann")
    assert not refused.value.charged
