"""Runs sent through the Batch API, end to end against the fake's Files and Batch APIs: the whole run
reserved at its start, sent as one batch, polled, and each item settled from what the batch reports (kept
and charged from its usage, or refunded when it was not made), however the batch ends; cancelled at $0;
never sent twice or settled twice when a server stops midway or two read it at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from imagegen import GenerationRequest, InvalidRequest, Settings, Studio
from imagegen.runs import BATCH

PROMPTS = "a red fox\na blue bird\na green frog\na white owl\na grey wolf\na black cat"


@pytest.fixture
def settings(openai_settings: Settings) -> Settings:
    return replace(openai_settings, daily_quota=20)


@pytest.fixture
def batching_studio(settings: Settings) -> Iterator[Studio]:
    studio = Studio(settings)
    yield studio
    studio.stop_jobs()  # its sweep would go on reading batches of a fake reset for the next test


def start(studio: Studio, lines: int = 4) -> tuple[str, object]:
    run = studio.plan_run("ann", prompts="\n".join(PROMPTS.splitlines()[:lines]), presets=["photo"],
                          sizes=["1024x1024"], base=GenerationRequest("run", model="gpt-image-2", quality="low"))  # fmt: skip
    return studio.start_run(run, "ann", BATCH, name="Batched"), run


def settle(studio: Studio, run_id: str, looks: int = 6):
    for _ in range(looks):
        studio.advance_batches(run_id)
        status = studio.run_status(run_id, "ann")
        if status.finished:
            return status
    return status


def ledger(studio: Studio) -> list[dict]:
    return [dict(r) for r in studio._engine.db.query("SELECT status, actual_micros, estimated_micros FROM generations")]


def batches_made(fake) -> int:
    return sum(1 for r in fake.requests if r["_path"].endswith("/batches"))


def test_a_batch_run_is_reserved_whole_sent_once_and_each_image_kept_and_charged_from_its_usage(
    batching_studio, fake_openai
):
    studio = batching_studio
    assert studio.run_modes() == ["all", "as far as it goes", "batch"]
    run_id, run = start(studio)
    assert batches_made(fake_openai) == 1  # sent at once
    held = studio.allowance("ann")
    assert held.images_in_flight == 4 and held.in_flight_micros == run.reserve_micros  # reserved whole
    assert {g["status"] for g in ledger(studio)} == {"reserved"}
    status = settle(studio, run_id)
    assert status.counts == {"succeeded": 4} and status.images == 4
    assert studio.board(status.board_id, "ann").images == 4
    rows = ledger(studio)
    assert {r["status"] for r in rows} == {"committed"} and all(
        0 < r["actual_micros"] <= r["estimated_micros"] for r in rows
    )
    assert status.spent_micros == sum(r["actual_micros"] for r in rows)
    terms = studio.batch_terms()
    assert not terms.confirmed  # no source confirms a discount for images: charged the usual price
    single = studio.plan(GenerationRequest("a red fox", preset="photo", model="gpt-image-2", quality="low",
                                           size="1024x1024"))  # fmt: skip
    assert rows[0]["estimated_micros"] == single.reserve_micros
    assert studio.check_invariants() == [] and batches_made(fake_openai) == 1
    studio.advance_batches(run_id)  # a settled batch is not read again
    assert studio.run_status(run_id, "ann").counts == {"succeeded": 4} and len(ledger(studio)) == 4


@pytest.mark.parametrize(
    ("outcome", "made", "says"),
    [
        ("partial", 4, "content policy"),
        ("expired", 3, "before this request was made"),
        ("failed", 0, "The batch ended (failed) without making this image"),
    ],
)
def test_a_batch_that_partly_fails_expires_or_fails_is_settled_truthfully(
    batching_studio, fake_openai, outcome, made, says
):
    fake_openai.batches.outcome = outcome
    studio = batching_studio
    run_id, _ = start(studio, lines=6)
    status = settle(studio, run_id)
    assert status.finished and status.counts.get("succeeded", 0) == made
    failed = [i for i in status.items if i["status"] == "failed"]
    assert len(failed) == 6 - made and all(says in i["error"] for i in failed)
    rows = ledger(studio)
    assert sorted(r["status"] for r in rows) == ["committed"] * made + ["refunded"] * (6 - made)
    assert all(r["actual_micros"] == 0 for r in rows if r["status"] == "refunded")
    assert studio.allowance("ann").images_used == made and studio.allowance("ann").images_in_flight == 0
    assert studio.board(status.board_id, "ann").images == made
    assert studio.check_invariants() == []


def test_a_late_batch_keeps_its_reservations_until_it_ends(batching_studio, fake_openai):
    fake_openai.batches.outcome = "late"
    studio = batching_studio
    run_id, run = start(studio)
    status = settle(studio, run_id)
    assert not status.finished and status.counts == {"queued": 4}
    assert studio.allowance("ann").in_flight_micros == run.reserve_micros
    fake_openai.batches.release.set()
    assert settle(studio, run_id).counts == {"succeeded": 4}


def test_a_batch_run_cancelled_after_it_was_sent_refunds_what_the_batch_did_not_make(batching_studio, fake_openai):
    fake_openai.batches.outcome = "late"
    studio = batching_studio
    run_id, _ = start(studio)
    studio.cancel_run(run_id, "ann")
    status = settle(studio, run_id)
    assert status.finished and status.counts == {"failed": 4}
    assert {r["status"] for r in ledger(studio)} == {"refunded"}
    assert studio.allowance("ann").images_used == 0 and studio.check_invariants() == []


def test_a_batch_run_the_provider_could_not_take_is_sent_by_the_sweep_or_cancelled_at_no_cost(
    batching_studio, fake_openai
):
    studio = batching_studio
    fake_openai.api_key = "sk-other"  # the provider refuses the upload: nothing is sent
    run_id, run = start(studio)
    assert batches_made(fake_openai) == 0 and studio.allowance("ann").in_flight_micros == run.reserve_micros
    assert studio.cancel_run(run_id, "ann") == 4
    status = studio.run_status(run_id, "ann")
    assert status.counts == {"cancelled": 4}
    assert {r["status"] for r in ledger(studio)} == {"refunded"} and studio.allowance("ann").in_flight_micros == 0
    fake_openai.api_key = "sk-test"
    studio.advance_batches(run_id)
    assert batches_made(fake_openai) == 0  # a cancelled run is never sent


def test_a_batch_made_by_a_server_that_stopped_before_noting_it_is_found_not_made_again(batching_studio, fake_openai):
    studio = batching_studio
    fake_openai.api_key = "sk-other"
    run_id, _ = start(studio)  # could not be sent: it waits for the sweep
    fake_openai.api_key = "sk-test"
    engine = studio._engine
    studio.advance_batches(run_id)  # a server makes the batch...
    with engine.db.write() as conn:  # ...and stops before its note of it is kept
        conn.execute("UPDATE run_batches SET state = 'to send', batch_id = NULL WHERE run_id = :id", {"id": run_id})
    assert batches_made(fake_openai) == 1
    studio.advance_batches(run_id)  # the next server finds it by the run's id
    assert batches_made(fake_openai) == 1
    assert settle(studio, run_id).counts == {"succeeded": 4} and studio.check_invariants() == []


def test_two_servers_reading_one_batch_at_once_settle_each_item_once(settings, fake_openai):
    first, second = Studio(settings), Studio(settings)
    run_id, _ = start(first, lines=6)
    for _ in range(2):
        first.advance_batches(run_id)  # validating, then in progress: the next look ends it
    both = [threading.Thread(target=s.advance_batches, args=(run_id,)) for s in (first, second)]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join()
    status = settle(first, run_id)
    for studio in (first, second):
        studio.stop_jobs()
    assert status.counts == {"succeeded": 6}
    assert len(first.history().items) == 6 and first.check_invariants() == []


def test_a_studio_whose_provider_takes_no_batches_does_not_offer_them_and_refuses_one(data_dir):
    studio = Studio(Settings(data_dir=data_dir, offline_delay=0))
    assert BATCH not in studio.run_modes()
    run = studio.plan_run("ann", prompts="a fox", presets=["photo"], sizes=["1024x1024"])
    with pytest.raises(InvalidRequest, match="takes no batches"):
        studio.start_run(run, "ann", BATCH)
    studio.stop_jobs()
    assert studio._engine.db.query("SELECT COUNT(*) FROM generations")[0][0] == 0
    assert studio._engine.db.query("SELECT COUNT(*) FROM runs")[0][0] == 0


def test_a_batch_another_server_holds_is_left_to_it_until_its_lease_runs_out(batching_studio, fake_openai):
    studio = batching_studio
    fake_openai.api_key = "sk-other"
    run_id, _ = start(studio)  # not sent: waiting for a sweep
    fake_openai.api_key = "sk-test"
    db = studio._engine.db
    with db.write() as conn:  # another server is sending it right now
        conn.execute(
            "UPDATE run_batches SET lease_owner = 'other:1', lease_until = 9e12 WHERE run_id = :id", {"id": run_id}
        )
    assert studio.advance_batches(run_id) == 0 and batches_made(fake_openai) == 0
    with db.write() as conn:  # that server died: its lease runs out
        conn.execute("UPDATE run_batches SET lease_until = 1 WHERE run_id = :id", {"id": run_id})
    assert studio.advance_batches(run_id) == 1 and batches_made(fake_openai) == 1


def test_an_image_a_batch_answers_after_its_hold_expired_is_kept_and_its_charge_made_true(batching_studio, fake_openai):
    fake_openai.batches.outcome = "late"
    studio = batching_studio
    run_id, _ = start(studio)
    studio.advance_batches(run_id)
    expired = studio._engine.ledger.expire_stale(now=time.time() + 26 * 3600)  # the batch outlived its hold
    assert len(expired) == 4 and {r["status"] for r in ledger(studio)} == {"ambiguous"}
    fake_openai.batches.release.set()
    status = settle(studio, run_id)
    assert status.counts == {"succeeded": 4} and studio.board(status.board_id, "ann").images == 4
    rows = ledger(studio)
    assert {r["status"] for r in rows} == {"committed"} and all(
        r["actual_micros"] < r["estimated_micros"] for r in rows
    )
    assert studio.allowance("ann").images_used == 4 and studio.check_invariants() == []
