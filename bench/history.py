"""With 10,000 images in S3 (moto_server over HTTP), the time to the first gallery page and the bytes a
browser downloads for it, beside the naive way (list every record, read them all, show full-size
images). Targets: first page under 300 ms; under 1 MB of thumbnails for 24 items."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from _common import median_seconds, table, verdict
from PIL import Image

from imagegen import Settings, Studio
from imagegen.imaging import make_thumbnail
from imagegen.storage import IMMUTABLE, NO_CACHE, image_folder
from tests.conftest import free_port, wait_for_port
from tests.fakes.openai_server import image_bytes

IMAGES = int(os.environ.get("BENCH_HISTORY_IMAGES", "10000"))
VARIANTS = 8


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, process)
    return process, f"http://127.0.0.1:{port}"


def seed(studio: Studio, client, bucket: str) -> None:
    """Objects laid out exactly as the studio writes them, many at a time."""
    originals = [image_bytes("1024x1024", "png", (30 * i, 90, 160), photo_like=True) for i in range(VARIANTS)]
    thumbs = [make_thumbnail(Image.open(io.BytesIO(o))) for o in originals]
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def put(index: int) -> None:
        created = start + timedelta(minutes=index)
        user = f"user{index % 12}@example.com"
        image_id = f"{index:08x}{'0' * 24}-0"
        folder = image_folder(studio._engine.settings.s3_prefix, user, created, image_id)
        record = {
            "id": image_id,
            "request_id": image_id[:-2],
            "index": 0,
            "key": folder + "original.png",
            "thumb_key": folder + "thumb.webp",
            "record_key": folder + "record.json",
            "user": user,
            "created_at": created.isoformat(timespec="milliseconds"),
            "prompt": f"creature number {index}",
            "directed_prompt": f"creature number {index}, professional photograph",
            "revised_prompt": None,
            "preset": ["photo", "anime", "logo"][index % 3],
            "model": "gpt-image-2.6-flare",
            "size": "1024x1024",
            "quality": "medium",
            "format": "png",
            "cost_usd": 0.03,
        }
        variant = index % VARIANTS
        # Full-size originals where a first page can show them; a stand-in elsewhere keeps moto's memory small.
        original = originals[variant] if index >= IMAGES - 48 else b"original elsewhere"
        client.put_object(
            Bucket=bucket, Key=record["key"], Body=original, ContentType="image/png", CacheControl=IMMUTABLE
        )
        client.put_object(
            Bucket=bucket,
            Key=record["thumb_key"],
            Body=thumbs[variant],
            ContentType="image/webp",
            CacheControl=IMMUTABLE,
        )
        client.put_object(
            Bucket=bucket,
            Key=record["record_key"],
            Body=json.dumps(record).encode(),
            ContentType="application/json",
            CacheControl=NO_CACHE,
        )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(IMAGES)))


def fetch(url: str) -> int:
    with urllib.request.urlopen(url) as answer:
        return len(answer.read())


def main() -> None:
    moto, endpoint = start_moto()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            client = boto3.client("s3", endpoint_url=endpoint)
            client.create_bucket(Bucket="bench")
            studio = Studio(
                Settings(data_dir=Path(tmp), storage="s3", s3_bucket="bench", s3_endpoint_url=endpoint, offline_delay=0)
            )
            began = time.perf_counter()
            seed(studio, client, "bench")
            seeded = time.perf_counter() - began
            began = time.perf_counter()
            indexed = studio._engine.library.reindex()
            reindex = time.perf_counter() - began

            def first_page() -> list[str]:
                page = studio.history()
                return [studio._engine.library.url(item) for item in page.items]

            ours = median_seconds(first_page, 20)
            urls = first_page()
            with ThreadPoolExecutor(6) as pool:  # a browser's six connections per host
                began = time.perf_counter()
                thumb_bytes = sum(pool.map(fetch, urls))
                thumbs_time = time.perf_counter() - began

            def naive_page() -> list[dict]:
                keys = [
                    k for k in studio._engine.library.store.list_keys("imagegen/users/") if k.endswith("record.json")
                ]
                with ThreadPoolExecutor(16) as pool:
                    records = list(pool.map(lambda k: json.loads(studio._engine.library.store.get(k)), keys))
                return sorted(records, key=lambda r: r["created_at"], reverse=True)[:24]

            began = time.perf_counter()
            naive_items = naive_page()
            naive = time.perf_counter() - began
            naive_bytes = sum(len(studio._engine.library.store.get(item["key"])) for item in naive_items)
            assert [i["key"] for i in naive_items] == [i["key"] for i in studio.history().items]
    finally:
        moto.terminate()
        moto.wait()
    table(
        f"Gallery history with {indexed:,} images in S3 (moto_server over HTTP)",
        [
            ("seeding (not judged)", f"{seeded:8.1f} s"),
            ("reindex from the bucket alone", f"{reindex:8.1f} s"),
            ("first page, ours (index + 24 presigned URLs), median", f"{ours * 1000:8.1f} ms"),
            ("first page, naive (list + read every record)", f"{naive * 1000:8.1f} ms   {naive / ours:,.0f}x ours"),
            (
                "bytes for 24 items, ours (thumbnails)",
                f"{thumb_bytes / 1024:8.0f} KiB (fetched in {thumbs_time * 1000:.0f} ms)",
            ),
            (
                "bytes for 24 items, naive (full-size originals)",
                f"{naive_bytes / 1024:8.0f} KiB   {naive_bytes / thumb_bytes:,.0f}x ours",
            ),
        ],
    )
    verdict(ours < 0.3, f"first page in {ours * 1000:.1f} ms (target < 300 ms)")
    verdict(thumb_bytes < 1_000_000, f"{thumb_bytes / 1e6:.2f} MB of thumbnails for 24 items (target < 1 MB)")


if __name__ == "__main__":
    main()
