"""Runs of many and boards, on SQLite with the offline renderer at no delay (so what is timed is the engine):
- a run's engine overhead per image (planned, reserved, queued, run by the job queue, put on its board)
  beside the same images made one by one with `generate`, for a run of 60 as far as it goes and all or
  nothing;
- planning a run of 300 (what the Runs page does on each change of its prompts);
- a board of 500 images beside the gallery of the same 500: the engine's read, and the whole page script
  (Streamlit's AppTest: the page as the server runs it, first screen of tiles drawn).
Targets: a run's overhead under 25 ms per image; a plan of 300 under 1 s; the board page within 1.5x of the
gallery page (or 100 ms of it)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from _common import ROOT, median_seconds, table, verdict

from imagegen import GenerationRequest, Settings, Studio

RUN = 60
BOARD = 500


def studio_in(folder: Path, quota: int = 10_000) -> Studio:
    return Studio(Settings(data_dir=folder, offline_delay=0, daily_quota=quota))


def per_image_one_by_one(folder: Path) -> float:
    studio = studio_in(folder)
    studio.generate(GenerationRequest("warm up"), "ann")
    start = time.perf_counter()
    for i in range(RUN):
        studio.generate(GenerationRequest(f"a fox, take {i}"), "ann")
    return (time.perf_counter() - start) / RUN


def per_image_in_a_run(folder: Path, mode: str) -> float:
    studio = studio_in(folder)
    studio.generate(GenerationRequest("warm up"), "ann")
    prompts = "\n".join(f"a fox, take {i}" for i in range(RUN))
    start = time.perf_counter()
    run = studio.plan_run("ann", prompts=prompts, presets=["photo"], sizes=["1024x1024"])
    run_id = studio.start_run(run, "ann", mode)
    while not (status := studio.run_status(run_id, "ann")).finished:
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    assert status.counts == {"succeeded": RUN}, status.counts
    assert studio.board(status.board_id, "ann").images == RUN
    studio.stop_jobs()
    return elapsed / RUN


def plan_of_300(folder: Path) -> float:
    studio = studio_in(folder)
    prompts = "\n".join(f"product {i}, on a white table" for i in range(100))
    return median_seconds(
        lambda: studio.plan_run("ann", prompts=prompts, presets=["photo", "cinematic", "product"],
                                sizes=["1024x1024"]),
        repeat=5,
    )  # fmt: skip


def board_and_gallery(folder: Path) -> dict[str, float]:
    studio = studio_in(folder)
    keys = [studio.generate(GenerationRequest(f"icon {i}", size="1024x1024"), "ann").image_key for i in range(BOARD)]
    board = studio.create_board("Five hundred", "ann", visibility="team")
    studio.add_to_board(board.id, "ann", keys)
    figures = {
        "board_read": median_seconds(lambda: studio.board_items(board.id, "ann", limit=25), repeat=7),
        "board_read_all": median_seconds(lambda: studio.board_items(board.id, "ann"), repeat=7),
        "gallery_read": median_seconds(lambda: studio.history(), repeat=7),
    }
    figures.update(page_runs(folder, board.id))
    return figures


def page_runs(folder: Path, board_id: str) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    os.environ.update(IMAGEGEN_DATA_DIR=str(folder), IMAGEGEN_OFFLINE_DELAY="0", IMAGEGEN_LOCAL_USER="ann")
    os.environ.pop("IMAGEGEN_AUTH", None)

    def opened(page: str, **query: str):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
        for name, value in query.items():
            at.query_params[name] = value
        at.session_state["arrived"] = True
        return at, page

    def timed(page: str, **query: str) -> float:
        at, page = opened(page, **query)
        at.switch_page(page).run()  # the first run of the page compiles it and fills caches
        assert not at.exception, at.exception
        return median_seconds(lambda: at.run(), repeat=5)

    return {"board_page": timed("pages/boards.py", board=board_id), "gallery_page": timed("pages/gallery.py")}


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        figures = {
            "single": per_image_one_by_one(root / "single"),
            "run_far": per_image_in_a_run(root / "far", "as far as it goes"),
            "run_all": per_image_in_a_run(root / "all", "all"),
            "plan300": plan_of_300(root / "plan"),
            **board_and_gallery(root / "board"),
        }
    ms = {name: f"{value * 1000:8.1f} ms" for name, value in figures.items()}
    table(
        f"A run of {RUN} beside {RUN} made one by one (offline renderer, no delay), per image",
        [("one by one (generate)", ms["single"]), ("run, as far as it goes", ms["run_far"]),
         ("run, all or nothing", ms["run_all"])],
    )  # fmt: skip
    overhead = max(figures["run_far"], figures["run_all"]) - figures["single"]
    verdict(overhead < 0.025, f"a run's overhead per image {overhead * 1000:+.1f} ms (target under 25 ms)")
    table("Planning a run of 300 (100 prompts x 3 presets)", [("plan", ms["plan300"])])
    verdict(figures["plan300"] < 1.0, "under 1 s")
    table(
        f"A board of {BOARD} images beside the gallery of the same {BOARD}",
        [("engine: the board's first 25", ms["board_read"]), ("engine: all 500 of the board", ms["board_read_all"]),
         ("engine: the gallery's first page", ms["gallery_read"]),
         ("page: Boards (first 24 tiles)", ms["board_page"]), ("page: Gallery (first page)", ms["gallery_page"])],
    )  # fmt: skip
    ratio = figures["board_page"] / figures["gallery_page"]
    close = ratio <= 1.5 or figures["board_page"] - figures["gallery_page"] < 0.1
    verdict(close, f"the board page at {ratio:.2f}x the gallery page (target 1.5x, or within 100 ms)")


if __name__ == "__main__":
    main()
