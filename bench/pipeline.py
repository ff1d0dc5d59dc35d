"""The engine's own time per image (everything but the provider's wait), beside the floor of decoding
the PNG once and writing its bytes once. Target: the engine at most 2x the floor."""

from __future__ import annotations

import base64
import io
import os
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from _common import median_seconds, table, verdict
from PIL import Image

from imagegen import GenerationRequest, Settings, Studio
from imagegen.providers import RenderJob, RenderOutput, make_provider
from tests.fakes.openai_server import FakeImagesAPI, image_bytes

REPEAT = 40


class TimedProvider:
    """Wraps a provider to subtract its time (the wait the engine does not control)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name, self.label = inner.name, inner.label
        self.last = 0.0

    def render(self, job: RenderJob, on_partial) -> RenderOutput:
        start = time.perf_counter()
        try:
            return self.inner.render(job, on_partial)
        finally:
            self.last = time.perf_counter() - start


def engine_seconds(settings: Settings, request_for) -> float:
    timed = TimedProvider(make_provider(settings))
    studio = Studio(settings, provider=timed)
    samples = []
    for index in range(REPEAT):
        start = time.perf_counter()
        studio.generate(request_for(index), f"user{index}")
        samples.append(time.perf_counter() - start - timed.last)
    samples.sort()
    return samples[len(samples) // 2]


def floor_seconds(png: bytes, folder: Path) -> float:
    def once() -> None:
        Image.open(io.BytesIO(png)).load()
        with open(folder / "floor.png", "wb") as out:
            out.write(png)
            out.flush()
            os.fsync(out.fileno())

    return median_seconds(once, REPEAT)


def main() -> None:
    png = image_bytes("1536x1024", "png", photo_like=True)
    api = FakeImagesAPI().start()
    api.photo_like = True
    api.api_key = "sk-bench"  # the fake refuses any other key, as the API does
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            floor = floor_seconds(png, folder)
            openai_settings = Settings(
                data_dir=folder / "openai",
                provider="openai",
                openai_api_key="sk-bench",
                openai_base_url=api.base_url,
                daily_quota=10_000,
                daily_budget_usd=Decimal(100_000),
            )
            fake = engine_seconds(
                openai_settings,
                lambda i: GenerationRequest(
                    f"bench {i}", model="gpt-image-2.6-flare", size="1536x1024", quality="low", raw=True
                ),
            )
            offline_settings = Settings(data_dir=folder / "offline", offline_delay=0, daily_quota=10_000)
            offline = engine_seconds(offline_settings, lambda i: GenerationRequest(f"bench {i}", size="1536x1024"))
    finally:
        api.stop()
    table(
        f"Engine time per image, median of {REPEAT} (1536x1024 PNG, {len(png) / 1024:.0f} KiB, base64 {len(base64.b64encode(png)) / 1024:.0f} KiB)",
        [
            ("floor: decode once + write once (fsync)", f"{floor * 1000:7.1f} ms"),
            ("engine, fake OpenAI answering at once", f"{fake * 1000:7.1f} ms   {fake / floor:4.2f}x floor"),
            ("engine, offline provider at zero delay", f"{offline * 1000:7.1f} ms   {offline / floor:4.2f}x floor"),
        ],
    )
    verdict(fake / floor <= 2.0, f"engine {fake / floor:.2f}x the floor with the fake OpenAI (target <= 2x)")


if __name__ == "__main__":
    main()
