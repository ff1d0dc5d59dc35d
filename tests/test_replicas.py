"""Two replicas of the engine, each its own process, on one PostgreSQL and one S3 (moto_server), against the
protocol fake of the Images API: the limits hold across them, every paid image is kept and listed once, and
when one is killed mid-render the other settles its jobs within the stale window."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from decimal import Decimal
from pathlib import Path

import boto3
import pytest

from imagegen import GenerationRequest, HistoryFilter, LimitReached, Settings, Studio
from tests.engine_parts import open_reservations
from tests.replica import TIMEOUT, Replica


@pytest.fixture
def shared(postgres_url, moto, bucket, fake_openai, tmp_path):
    """What every replica shares: the database, the bucket and the provider; and a studio that reads them."""
    env = {
        **os.environ,
        "IMAGEGEN_DATABASE_URL": postgres_url,
        "IMAGEGEN_STORAGE": "s3",
        "IMAGEGEN_S3_BUCKET": bucket,
        "AWS_ENDPOINT_URL_S3": moto.endpoint,
        "IMAGEGEN_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "IMAGEGEN_WORKERS": "32",
        "IMAGEGEN_JOB_STALE_SECONDS": "3",
    }
    replicas: list[Replica] = []

    def start(name: str, *args: str, **settings: str) -> Replica:
        replica = Replica({**env, **settings}, tmp_path / name, *args)
        replicas.append(replica)
        return replica

    def studio(**settings: str) -> Studio:
        return Studio(Settings.from_env({**env, **settings, "IMAGEGEN_DATA_DIR": str(tmp_path / "observer")}))

    fake_openai.gate = threading.Event()
    yield start, studio, fake_openai, bucket, moto
    fake_openai.gate.set()
    for replica in replicas:
        replica.stop()


def burst(start, observer: Studio, fake, tmp_path: Path, settings: dict[str, str], *args: str) -> list[dict]:
    """64 generations at once, 32 submitted to each of two replicas; the provider answers none of them until
    every one has been admitted or refused, so that no commit frees room for a later one. Returns each job's
    end, with {"status": "refused"} for each refused before it was queued."""
    go = tmp_path / "go"
    replicas = [start(name, "--submit", "32", "--prefix", name, "--start-file", str(go), *args, **settings)
                for name in ("a", "b")]  # fmt: skip
    go.touch()
    refused_at_submit = sum(int(r.expect("submitted").split()[-1]) for r in replicas)
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        refused_later = observer._engine.db.query(
            "SELECT COUNT(*) FROM jobs WHERE error_code IN ('quota_exhausted', 'budget_exhausted')"
        )[0][0]
        if len(fake.requests) + refused_later + refused_at_submit >= 64:
            break
        time.sleep(0.02)
    fake.gate.set()
    ends = [{"status": "refused"}] * refused_at_submit
    for replica in replicas:
        while (line := replica.expect("")) != "done":
            ends.append(json.loads(line))
    return ends


def kept_originals(moto, bucket: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=moto.endpoint)
    keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]  # fmt: skip
    return [key for key in keys if "/original." in key]


def test_two_replicas_admit_exactly_one_users_quota_and_keep_every_image_once(shared, tmp_path):
    start, studio, fake, bucket, moto = shared
    observer = studio(IMAGEGEN_DAILY_QUOTA="20")
    ends = burst(start, observer, fake, tmp_path, {"IMAGEGEN_DAILY_QUOTA": "20"})
    assert len(ends) == 64
    assert sum(end["status"] == "succeeded" for end in ends) == 20
    assert all(end["status"] == "refused" or end.get("error_code") in (None, "quota_exhausted") for end in ends)
    assert len(fake.requests) == 20
    assert observer.allowance("ann").images_used == 20
    assert observer.check_invariants() == []
    listed = [item["key"] for item in observer._engine.library.page(HistoryFilter(), size=100).items]
    assert len(listed) == len(set(listed)) == 20
    assert sorted(kept_originals(moto, bucket)) == sorted(listed)


def test_two_replicas_spend_exactly_what_the_team_budget_holds(shared, tmp_path):
    start, studio, fake, bucket, moto = shared
    bound = studio().plan(GenerationRequest("a fox, take 10")).reserve_micros
    budget = str(Decimal(bound * 23 + bound // 2) / 1_000_000)
    settings = {"IMAGEGEN_DAILY_QUOTA": "100", "IMAGEGEN_DAILY_BUDGET_USD": budget}
    observer = studio(**settings)
    ends = burst(start, observer, fake, tmp_path, settings, "--many-users")
    assert sum(end["status"] == "succeeded" for end in ends) == 23
    assert observer.check_invariants() == []
    assert observer.allowance("x").spent_micros <= bound * 23
    assert len(kept_originals(moto, bucket)) == 23


def test_a_replica_killed_mid_render_has_its_jobs_settled_by_the_other(shared, tmp_path):
    start, studio, fake, bucket, moto = shared
    doomed = start("doomed", "--submit", "3", "--prefix", "doomed")
    doomed.expect("submitted 3")
    deadline = time.time() + TIMEOUT
    while len(fake.requests) < 3 and time.time() < deadline:
        time.sleep(0.02)
    assert len(fake.requests) == 3  # all three are at the provider, which may be billing them
    survivor = start("survivor")
    doomed.process.send_signal(signal.SIGKILL)
    doomed.process.wait()
    killed_at = time.time()
    observer = studio()
    jobs = []
    while time.time() < killed_at + 20:
        jobs = observer._engine.db.query("SELECT status, error_code, charged, owner FROM jobs ORDER BY id")
        if all(job["status"] != "running" for job in jobs):
            break
        time.sleep(0.1)
    settled_after = time.time() - killed_at
    assert [(job["status"], job["error_code"], job["charged"]) for job in jobs] == [("failed", "interrupted", 1)] * 3
    assert settled_after < 3 * 3, f"settled {settled_after:.1f}s after the kill; the stale window is 3s"
    assert {job["owner"].split(":")[1] for job in jobs} == {str(survivor.process.pid)}
    assert open_reservations(observer._engine.db) == []
    assert observer.check_invariants() == []
    generations = observer._engine.db.query("SELECT status, actual_micros, estimated_micros FROM generations")
    assert [g["status"] for g in generations] == ["ambiguous"] * 3  # possibly billed: the reserve is kept
    assert all(g["actual_micros"] == g["estimated_micros"] > 0 for g in generations)


def test_a_replica_that_comes_back_with_its_disk_uploads_the_paid_image_it_kept(shared):
    start, studio, fake, bucket, moto = shared
    fake.gate.set()  # the provider answers at once
    stranded = start("flaky", "--submit", "1", "--prefix", "stranded", AWS_ENDPOINT_URL_S3="http://127.0.0.1:9")
    refused, ends = stranded.results()
    assert refused == 0 and ends[0]["status"] == "succeeded"  # paid and shown, though S3 could not be reached
    observer = studio()
    assert [item["pending"] for item in observer.history().items] == [True]
    assert kept_originals(moto, bucket) == []
    stranded.process.send_signal(signal.SIGKILL)
    stranded.process.wait()
    start("flaky")  # the same disk, and S3 reachable again
    deadline = time.time() + 30
    while time.time() < deadline and not kept_originals(moto, bucket):
        time.sleep(0.2)
    assert len(kept_originals(moto, bucket)) == 1
    assert [item["pending"] for item in observer.history().items] == [False]
    assert observer.check_invariants() == []


def test_a_run_of_200_across_two_replicas_spends_no_more_than_the_budget_and_loses_nothing_to_a_kill(shared):
    start, studio, fake, bucket, moto = shared
    bound = studio().plan(GenerationRequest("icon 000", preset="photo", size="1024x1024")).reserve_micros
    budget = bound * 150 + bound // 2
    settings = {"IMAGEGEN_DAILY_QUOTA": "1000", "IMAGEGEN_DAILY_BUDGET_USD": str(Decimal(budget) / 1_000_000)}
    observer = studio(**settings)
    whole = observer.plan_run("ann", prompts="\n".join(f"icon {i:03d}" for i in range(200)), presets=["photo"],
                              sizes=["1024x1024"])  # fmt: skip
    assert whole.fitting() == 150
    with pytest.raises(LimitReached, match="This run needs 200 images"):
        observer.start_run(whole, "ann", "all")  # all or nothing: refused at once, nothing kept
    observer.stop_jobs()
    assert observer._engine.db.query("SELECT COUNT(*) FROM generations")[0][0] == 0

    doomed = start("doomed", "--run", "200", **settings)
    run_id = doomed.expect("run ").split()[1]
    start("survivor", **settings)
    deadline = time.time() + TIMEOUT
    while len(fake.requests) < 20 and time.time() < deadline:
        time.sleep(0.02)
    doomed.process.send_signal(signal.SIGKILL)  # with renders at the provider and most of the run queued
    doomed.process.wait()
    fake.gate.set()
    deadline = time.time() + TIMEOUT
    while not (status := observer.run_status(run_id, "ann")).finished and time.time() < deadline:
        time.sleep(0.2)
    assert status.finished and status.total == 200, status.counts
    errors = {item["error"][:20] for item in status.items if item["status"] == "failed"}
    assert errors <= {"Team budget reached:", "The server restarted"}, errors
    left = observer.allowance("ann")
    assert left.spent_micros + left.in_flight_micros <= budget  # no overshoot
    assert budget - left.spent_micros < bound  # and as far as it goes: what is left holds no other image
    assert observer.check_invariants() == [] and open_reservations(observer._engine.db) == []
    made = [key for item in status.items for key in item["image_keys"]]
    interrupted = sum(item["error"].startswith("The server restarted") for item in status.items if item["error"])
    assert interrupted > 0  # the kill hit renders at the provider: charged their bound, as maybe billed
    assert len(made) == status.counts["succeeded"] and len(made) + interrupted >= 150
    assert observer.board(status.board_id, "ann").images == len(made)
    assert sorted(kept_originals(moto, bucket)) == sorted(made)  # every paid image kept, on the run's board
