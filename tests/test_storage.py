"""boto3 against moto_server over HTTP on 127.0.0.1, and the local folder store."""

import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import date, timedelta

import boto3
import pytest
from PIL import Image

from imagegen import Forbidden, GenerationRequest, HistoryFilter, InvalidRequest, NotFound, Settings, Studio
from imagegen.catalog import Charge
from imagegen.checks import scoped_id
from imagegen.jobs import JobRunner
from imagegen.pipeline import Clock, Generation
from imagegen.storage import image_folder, user_slug
from tests.conftest import ROOT, MotoServer, cli_env
from tests.fakes.blackhole import BlackHole


def s3(endpoint):
    return boto3.client("s3", endpoint_url=endpoint)


def test_an_image_its_thumbnail_and_record_round_trip_through_s3(s3_studio, s3_settings, moto):
    result = s3_studio.generate(GenerationRequest("a fox", output_format="jpeg"), "ann@example.com")
    record = s3_studio._engine.library.record(result.image_key)
    client = s3(moto.endpoint)
    head = client.head_object(Bucket=s3_settings.s3_bucket, Key=record["key"])
    assert head["ContentType"] == "image/jpeg" and "immutable" in head["CacheControl"]
    thumb_head = client.head_object(Bucket=s3_settings.s3_bucket, Key=record["thumb_key"])
    assert thumb_head["ContentType"] == "image/webp"
    stored = json.loads(client.get_object(Bucket=s3_settings.s3_bucket, Key=record["record_key"])["Body"].read())
    assert stored["directed_prompt"] == result.directed_prompt and stored["user"] == "ann@example.com"
    assert "file" not in stored and "pending" not in stored
    url = s3_studio._engine.library.url(record)
    assert "X-Amz-Signature" in url and "X-Amz-Expires=900" in url
    time.sleep(1.1)
    assert s3_studio._engine.library.url(record) == url  # reruns reuse it: the browser's cache still holds
    with urllib.request.urlopen(url) as answer:
        assert Image.open(io.BytesIO(answer.read())).format == "WEBP"


def test_keys_list_newest_first_and_keep_users_apart(s3_studio, s3_settings, moto):
    first = s3_studio.generate(GenerationRequest("first"), "ann")
    time.sleep(0.01)
    second = s3_studio.generate(GenerationRequest("second"), "ann")
    other = s3_studio.generate(GenerationRequest("other"), "bob")
    listed = [
        o["Key"]
        for o in s3(moto.endpoint).list_objects_v2(
            Bucket=s3_settings.s3_bucket, Prefix=f"imagegen/users/{user_slug('ann')}/"
        )["Contents"]
    ]
    originals = [k for k in listed if "/original." in k]
    assert originals == [second.image_key, first.image_key]
    assert user_slug("bob") in other.image_key and user_slug("ann") not in other.image_key


@pytest.mark.parametrize("user", ["../../etc/passwd", "a/b", "ünïcødé 用户", "x" * 200, "..", "CON", "ann\\bob"])
def test_no_user_name_can_steer_a_key(user):
    folder = image_folder("imagegen/", user, __import__("datetime").datetime.now(), "abc123-0")
    slug = folder.split("/")[2]
    assert folder.startswith("imagegen/users/") and folder.count("/") == 4
    assert ".." not in folder and "\\" not in folder and len(slug) <= 53
    assert all(c.isascii() and (c.isalnum() or c == "-") for c in slug)
    assert user_slug(user) != user_slug(user + " ")


def test_image_ids_and_page_keys_from_outside_are_checked(studio):
    with pytest.raises(InvalidRequest):
        image_folder("imagegen/", "ann", __import__("datetime").datetime.now(), "../x")
    for key in ("../../etc/passwd", "imagegen/users/../../secret", "/etc/passwd", "other/x.png"):
        with pytest.raises(NotFound):
            studio._engine.library.record(key)


def _fill(studio, count=30):
    results = []
    for i in range(count):
        preset = "pixel" if i % 3 == 0 else "photo"
        user = "ann" if i % 2 == 0 else "bob"
        results.append(studio.generate(GenerationRequest(f"creature number {i}", preset=preset), user))
    return results


def test_history_pages_newest_first_24_at_a_time_with_every_filter(db_settings):
    studio = Studio(Settings(**{**db_settings.__dict__, "daily_quota": 100}))
    results = _fill(studio)
    first = studio.history()
    assert len(first.items) == 24 and first.next_token
    assert [i["request_id"] for i in first.items] == [r.id for r in reversed(results)][:24]
    second = studio.history(page_token=first.next_token)
    assert len(second.items) == 6 and second.next_token is None
    assert [i["request_id"] for i in second.items] == [r.id for r in reversed(results)][24:]
    assert {i["user"] for i in studio.history(HistoryFilter(user="ann")).items} == {"ann"}
    assert studio._engine.library.count(HistoryFilter(preset="pixel")) == 10
    assert studio._engine.library.count(HistoryFilter(model="offline")) == 30
    assert [i["prompt"] for i in studio.history(HistoryFilter(text="number 7")).items] == ["creature number 7"]
    assert studio._engine.library.count(HistoryFilter(text="8-BIT")) == 0
    assert studio._engine.library.count(HistoryFilter(text="16-bit")) == 0  # the user's words only, by default
    assert (
        studio._engine.library.count(HistoryFilter(text="16-bit", everywhere=True)) == 10
    )  # the pixel preset's keywords
    assert studio._engine.library.count(HistoryFilter(text="100%")) == 0
    today = date.today()
    assert (
        studio._engine.library.count(HistoryFilter(since=today - timedelta(days=1), until=today + timedelta(days=1)))
        == 30
    )
    assert studio._engine.library.count(HistoryFilter(since=today + timedelta(days=2))) == 0
    with pytest.raises(InvalidRequest, match="page link"):
        studio.history(page_token="not-a-token")


def test_deleting_removes_image_thumbnail_and_record_owner_or_admin_only(s3_settings, moto, database_url):
    studio = Studio(
        Settings(
            **{**s3_settings.__dict__, "auth": "oidc", "admins": ("boss@example.com",), "database_url": database_url}
        )
    )
    boss = studio.sign_in({"iss": "https://idp", "sub": "b", "email": "boss@example.com", "email_verified": True})
    result = studio.generate(GenerationRequest("a fox"), "ann")
    with pytest.raises(Forbidden):
        studio.delete_image(result.image_key, "bob")
    studio.delete_image(result.image_key, boss.user)
    listed = s3(moto.endpoint).list_objects_v2(Bucket=s3_settings.s3_bucket).get("Contents", [])
    assert listed == []
    assert studio.history().items == []
    mine = studio.generate(GenerationRequest("mine"), "ann")
    studio.delete_image(mine.image_key, "ann")
    assert studio.history().items == []


def test_reindex_from_an_empty_index_gives_the_same_history(s3_settings, database_url):
    studio = Studio(Settings(**{**s3_settings.__dict__, "daily_quota": 100, "database_url": database_url}))
    _fill(studio, 26)
    before = [studio.history().items, studio.history(page_token=studio.history().next_token).items]
    with studio._engine.db.write() as conn:
        conn.execute("DELETE FROM images")
    assert studio.history().items == []
    assert studio._engine.library.reindex() == 26
    after = [studio.history().items, studio.history(page_token=studio.history().next_token).items]
    assert after == before


def test_s3_down_during_the_upload_loses_nothing_and_reconcile_uploads_it(data_dir, aws_credentials):
    server = MotoServer()
    server.start()
    s3(server.endpoint).create_bucket(Bucket="down")
    settings = Settings(
        data_dir=data_dir, offline_delay=0, storage="s3", s3_bucket="down", s3_endpoint_url=server.endpoint
    )
    studio = Studio(settings)
    server.stop()
    try:
        result = studio.generate(GenerationRequest("a fox"), "ann")
        assert result.pending_upload and result.status == "succeeded"
        record = studio._engine.library.record(result.image_key)
        assert record["pending"] and studio._engine.library.url(record) is None
        assert Image.open(io.BytesIO(studio._engine.library.original(record))).size == (1024, 1024)
        assert studio._engine.ledger.generation(result.id)["status"] == "committed"
        outcome = studio.reconcile()
        assert outcome["pending"] == [result.id]
        server.start()
        s3(server.endpoint).create_bucket(Bucket="down")
        JobRunner(studio._engine, workers=1).sweep()  # what the running app does every minute
        record = studio._engine.library.record(result.image_key)
        assert not record["pending"]
        assert s3(server.endpoint).head_object(Bucket="down", Key=record["key"])["ContentLength"] > 0
        assert not (data_dir / "spool" / result.id).exists()
    finally:
        server.stop()


def test_a_process_killed_between_the_answer_and_the_upload_loses_nothing(data_dir, moto, bucket):
    hole = BlackHole()
    env = cli_env(data_dir, IMAGEGEN_STORAGE="s3", IMAGEGEN_S3_BUCKET=bucket, AWS_ENDPOINT_URL=hole.endpoint)
    process = subprocess.Popen(
        [sys.executable, "-m", "imagegen", "generate", "a paid fox", "--user", "ann", "--request-id", "killed-request"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    spooled = data_dir / "spool" / scoped_id("ann", "killed-request") / "entry.json"
    deadline = time.time() + 30
    while not spooled.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert spooled.exists() and process.poll() is None  # stuck in the upload
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    hole.close()
    settings = Settings(
        data_dir=data_dir, offline_delay=0, storage="s3", s3_bucket=bucket, s3_endpoint_url=moto.endpoint
    )
    studio = Studio(settings)
    assert studio.reconcile()["uploaded"] == [scoped_id("ann", "killed-request")]
    row = studio._engine.ledger.generation(scoped_id("ann", "killed-request"))
    assert row["status"] == "committed"
    [item] = studio.history().items
    assert item["prompt"] == "a paid fox" and not item["pending"]
    assert studio._engine.library.original(item)
    assert studio.check_invariants() == []


def test_a_custom_prefix_with_capitals_still_finds_its_images(offline_settings):
    studio = Studio(Settings(**{**offline_settings.__dict__, "s3_prefix": "Team/Images/"}))
    result = studio.generate(GenerationRequest("a fox"), "ann")
    assert result.image_key.startswith("Team/Images/users/")
    assert studio._engine.library.record(result.image_key)["prompt"] == "a fox"
    with pytest.raises(NotFound):
        studio._engine.library.record(result.image_key.replace("original.png", "../../../etc/passwd"))


def test_reconcile_leaves_alone_an_entry_its_generation_is_still_settling(studio):
    plan = studio.plan(GenerationRequest("a fox", request_id="in-flight-1"))
    generation = Generation(studio._engine, plan, "ann", "in-flight-1", lambda stage, details: None, Clock())
    generation.reserve()
    output = generation.render()
    held = generation.keep_raw(
        output, Charge(plan.estimated_cost, False)
    )  # the answer is kept; its generation holds it
    try:
        outcome = studio.reconcile()
        assert "in-flight-1" not in outcome["uploaded"] + outcome["pending"] + outcome["failed"]
        assert studio._engine.ledger.generation("in-flight-1")["status"] == "reserved"
    finally:
        held.release()
    assert studio.reconcile()["uploaded"] == ["in-flight-1"]
    assert studio._engine.ledger.generation("in-flight-1")["status"] == "committed"
    assert studio._engine.spool.pending() == []
    assert [item["request_id"] for item in studio.history().items] == ["in-flight-1"]
    assert studio.check_invariants() == []
