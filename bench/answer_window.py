"""How long a paid answer lives only in memory: from the moment its last byte arrives to the moment it is
durable on disk (a process killed after that loses nothing; reconcile keeps and charges it).

Now: the transport under the SDK writes each chunk to the answer file as it arrives and fsyncs with the
last one, so the window is the write and fsync of the last chunk. Before: the whole answer was parsed,
base64-decoded and priced, then written to the spool and fsynced (`keep_raw`), so the window ran from the
last byte to `entry.json`. Both are measured here over the real SDK and the fake OpenAI server on
127.0.0.1, for a JSON answer and a streamed one with two previews, 1536x1024 photo-like PNGs."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from _common import table, verdict

from imagegen.catalog import Catalog
from imagegen.providers.answers import AnswerTap
from imagegen.providers.base import RenderJob
from imagegen.providers.openai_images import OpenAIImages, make_client
from imagegen.request import GenerationRequest
from imagegen.settings import Settings
from imagegen.spool import Spool
from tests.fakes.openai_server import FakeImagesAPI

REPEAT = 15


def measure(api: FakeImagesAPI, folder: Path, model: str) -> tuple[list[tuple[float, float]], list[float]]:
    settings = Settings(
        data_dir=folder, provider="openai", openai_api_key="sk-test", openai_base_url=api.base_url, model=""
    )
    client, sent, tap = make_client(settings)
    provider = OpenAIImages(client, sent=sent, tap=tap)
    spec = Catalog.load().get(model)
    spool = Spool(folder / "spool")
    quality = "standard" if model == "dall-e-3" else "high"
    windows, before = [], []
    for i in range(REPEAT):
        request = GenerationRequest("a lighthouse at dusk", model=model, quality=quality, size="1024x1024")
        answer = folder / f"answer-{i}.raw"
        job = RenderJob(request, request.prompt, spec, "bench", answer_path=answer)
        with _timed_tap(tap) as expectation_of:
            output = provider.render(job, lambda index, image: None)
            rendered = time.perf_counter()
        windows.append(expectation_of())
        # The old way: nothing durable until the decoded images reached the spool after the render returned.
        entry = spool.keep_raw(f"r{i}", [image.data for image in output.images], {"request": request.to_dict()})
        entry.release()
        before.append(time.perf_counter() - rendered + _parse_share(provider, answer))
    return windows, before


def _parse_share(provider: OpenAIImages, answer: Path) -> float:
    """The time the SDK's parsing and decoding took after the last byte: reading the kept answer back."""
    start = time.perf_counter()
    provider.recover_answer(answer)
    return time.perf_counter() - start


class _timed_tap:
    """Reads the last expectation's window once the render is over."""

    def __init__(self, tap: AnswerTap) -> None:
        self.tap = tap
        self.seen: list[float] = []

    def __enter__(self):
        original = self.tap.expecting

        def expecting(path, max_bytes):
            manager = original(path, max_bytes)
            expectation = manager.__enter__()

            class Wrapped:
                def __enter__(_self):
                    return expectation

                def __exit__(_self, *exc):
                    self.seen.append(
                        (expectation.last_byte_to_written_s or 0.0, expectation.last_byte_to_durable_s or 0.0)
                    )
                    return manager.__exit__(*exc)

            return Wrapped()

        self.tap.expecting = expecting
        self.original = original
        return lambda: self.seen[-1]

    def __exit__(self, *exc):
        self.tap.expecting = self.original


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def main() -> None:
    api = FakeImagesAPI().start()
    api.photo_like = True
    rows, ok = [], True
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for model, shape in (("dall-e-3", "JSON"), ("gpt-image-2.6-sunburst", "stream, 2 previews")):
                windows, before = measure(api, Path(scratch), model)
                written = statistics.median(w for w, _ in windows)
                durable = statistics.median(d for _, d in windows)
                then = statistics.median(before)
                rows.append((f"{shape}: last byte to written, now (a kill loses nothing)", _ms(written)))
                rows.append((f"{shape}: last byte to fsynced, now (power loss too)", _ms(durable)))
                rows.append((f"{shape}: last byte to spooled, before (parse, decode, spool)", _ms(then)))
                rows.append((f"{shape}: before / now (written)", f"{then / written:,.0f}x" if written else "-"))
                ok = ok and durable < then
    finally:
        api.stop()
    table(f"The answer's window in memory (median of {REPEAT})", rows)
    verdict(ok, "an answer is durable sooner after its last byte than before")


if __name__ == "__main__":
    main()
