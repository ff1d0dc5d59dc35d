"""The engine's own time for an edit with one 1536x1024 starting image and two references: the upload
checks, the mask from a painting, the multipart encoding the SDK sends, and keeping the answer with its
inputs (spool, verify, thumbnail, store). Beside it, the floor: decoding each of those images once and
writing each once (the three inputs and the answer). Target: the engine at most 2x the floor."""

from __future__ import annotations

import io
import os
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx
from _common import median_seconds, table, verdict
from PIL import Image

from imagegen import GenerationRequest, Settings, Studio
from imagegen.masks import mask_from_painting
from imagegen.providers.base import RenderedImage, RenderJob, RenderOutput
from imagegen.request import Usage
from tests.fakes.openai_server import image_bytes

REPEAT = 15
SIZE = (1536, 1024)


class InstantAnswer:
    """A provider that answers at once with a real 1536x1024 photo-like PNG, so only the engine is timed."""

    name = "openai"
    label = "instant answer"

    def __init__(self, answer: bytes) -> None:
        self.answer = answer

    def render(self, job: RenderJob, on_partial) -> RenderOutput:
        return RenderOutput([RenderedImage(self.answer)], Usage(100, 2000, 1568))

    def request_sent(self) -> bool:
        return True


def inputs() -> tuple[bytes, list[bytes], Image.Image]:
    start = image_bytes("1536x1024", "png", photo_like=True)
    references = [
        image_bytes("1024x1024", "jpeg", (200, 40, 40), True),
        image_bytes("1024x1024", "webp", photo_like=True),
    ]
    painting = Image.new("RGBA", (420, 280))
    painting.paste((255, 64, 64, 140), (100, 60, 260, 200))
    return start, references, painting


def multipart(edit) -> bytes:
    """The body the SDK sends: the images, the mask and the form fields, as multipart/form-data."""
    files = [("image[]", (f.name, f.data, f.content_type)) for f in edit.files() if f.role in ("image", "reference")]
    files += [("mask", (f.name, f.data, f.content_type)) for f in edit.files() if f.role == "mask"]
    fields = {"prompt": "add a red scarf", "model": "gpt-image-2.6-flare", "size": "1536x1024", "quality": "low"}
    return httpx.Request("POST", "http://127.0.0.1/v1/images/edits", data=fields, files=files).read()


def engine_seconds(studio: Studio, start: bytes, references: list[bytes], painting: Image.Image) -> float:
    samples = []
    for index in range(REPEAT):
        begin = time.perf_counter()
        edit = studio.prepare_edit([start, *references], mask=mask_from_painting(painting, SIZE))
        multipart(edit)
        request = GenerationRequest("add a red scarf", model="gpt-image-2.6-flare", size="1536x1024", quality="low")
        studio.generate(request, f"user{index}", edit=edit)
        samples.append(time.perf_counter() - begin)
    samples.sort()
    return samples[len(samples) // 2]


def floor_seconds(images: list[bytes], folder: Path) -> float:
    def once() -> None:
        for index, data in enumerate(images):
            Image.open(io.BytesIO(data)).load()
            with open(folder / f"floor-{index}", "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())

    return median_seconds(once, REPEAT)


def main() -> None:
    start, references, painting = inputs()
    answer = image_bytes("1536x1024", "png", (90, 140, 60), photo_like=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        floor = floor_seconds([start, *references, answer], folder)
        settings = Settings(
            data_dir=folder / "studio",
            provider="openai",
            openai_api_key="sk-bench",
            openai_base_url="http://127.0.0.1:9/v1",
            daily_quota=10_000,
            daily_budget_usd=Decimal(100_000),
        )
        studio = Studio(settings, provider=InstantAnswer(answer))
        engine = engine_seconds(studio, start, references, painting)
    sizes = ", ".join(f"{len(d) / 1024:.0f} KiB" for d in (start, *references, answer))
    table(
        f"An edit's engine time, median of {REPEAT} (start 1536x1024 PNG, 2 references, a mask; {sizes})",
        [
            ("floor: decode once + write once (fsync), 4 images", f"{floor * 1000:7.1f} ms"),
            ("engine: checks, mask, multipart, keep", f"{engine * 1000:7.1f} ms   {engine / floor:4.2f}x floor"),
        ],
    )
    verdict(engine / floor <= 2.0, f"engine {engine / floor:.2f}x the floor (target <= 2x)")


if __name__ == "__main__":
    main()
