"""The spool's own rules: what counts as an entry, what is cleaned, locks."""

import re
import shutil
import threading

import pytest

from imagegen import StorageError
from imagegen.spool import HEADROOM_BYTES, Spool


def test_only_whole_visible_entry_folders_are_pending(tmp_path):
    spool = Spool(tmp_path)
    entry = spool.keep_raw("whole", [b"x"], {})
    entry.release()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "entry.json").write_text("{}")
    (tmp_path / "no-entry").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    assert spool.pending() == ["whole"]


def test_leftovers_are_staging_folders_probes_and_unfinished_entries_nobody_holds(tmp_path):
    spool = Spool(tmp_path)
    (tmp_path / ".staging-a-1").mkdir()
    (tmp_path / ".probe-1-2").write_text("ok")
    (tmp_path / "unfinished").mkdir()
    held = spool.keep_raw("being-written", [b"x"], {})
    (held.folder / "entry.json").unlink()  # as if its writer were still between phases
    kept = spool.keep_raw("whole", [b"x"], {})
    kept.release()
    try:
        assert sorted(spool.clean_leftovers()) == [".probe-1-2", ".staging-a-1", "unfinished"]
    finally:
        held.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["being-written", "whole"]
    assert spool.clean_leftovers() == ["being-written"]


def test_a_held_entry_cannot_be_claimed_until_released(tmp_path):
    spool = Spool(tmp_path)
    held = spool.keep_raw("r1", [b"x"], {"a": 1})
    with spool.claim("r1") as other:
        assert other is None
    held.release()
    with spool.claim("r1") as mine:
        assert mine is not None and mine.data["a"] == 1 and mine.raw_images() == [b"x"]
    with spool.claim("missing") as nothing:
        assert nothing is None
    spool.remove("missing")  # removing what is not there is no error


def test_the_kept_phase_replaces_the_raw_answer(tmp_path):
    spool = Spool(tmp_path)
    entry = spool.keep_raw("r1", [b"raw"], {"x": 1})
    spool.keep(entry, [("0.png", b"image"), ("0.thumb.webp", b"thumb")], {"x": 1, "records": []})
    entry.release()
    assert sorted(p.name for p in (tmp_path / "r1").iterdir()) == ["0.png", "0.thumb.webp", "entry.json"]
    again = spool.get("r1")
    assert again.phase == "kept" and again.data["images"] == [
        {"file": "0.png", "bytes": 5},
        {"file": "0.thumb.webp", "bytes": 5},
    ]


def test_a_spool_makes_its_folders_and_takes_an_entry_folder_a_crash_left(tmp_path):
    spool = Spool(tmp_path / "not" / "yet")
    (tmp_path / "not" / "yet" / "again").mkdir(parents=True)
    entry = spool.keep_raw("again", [b"x"], {})
    entry.release()
    assert spool.pending() == ["again"]


def test_room_is_checked_against_the_free_disk_with_headroom_and_says_how_much_is_free(tmp_path):

    spool = Spool(tmp_path / "deep" / "spool")  # its parents are made as needed
    mib = 2**20
    free = shutil.disk_usage(tmp_path).free
    spool.check_room(free - HEADROOM_BYTES - 64 * mib)  # fits, with room to spare for other writers
    with pytest.raises(StorageError) as full:
        spool.check_room(free - HEADROOM_BYTES + 64 * mib)
    found = re.fullmatch(
        r"This server's disk is nearly full \((\d+) MiB free\)\. Nothing was charged; ask an admin to free disk space\.",
        full.value.message,
    )
    assert found and abs(int(found[1]) - free // mib) <= 64


def test_a_spool_that_cannot_be_made_says_why_and_what_to_check(tmp_path):

    (tmp_path / "spool").write_text("a file where the spool folder should be")
    with pytest.raises(StorageError) as refused:
        Spool(tmp_path / "spool").check_room(0)
    assert refused.value.message == (
        "This server cannot keep images right now (File exists). Nothing was charged; "
        "ask an admin to check the data folder's permissions and disk."
    )


def test_a_sweep_of_leftovers_while_workers_check_for_room_refuses_none_of_them(tmp_path):
    # A server's minute sweep removes the probes crashed writers left while its own workers write theirs: a
    # render was refused as "cannot keep images" when the sweep took a probe before its writer did.
    spool = Spool(tmp_path / "spool")
    stop, refused = threading.Event(), []

    def sweep() -> None:
        while not stop.is_set():
            spool.clean_leftovers()

    def check() -> None:
        for _ in range(2000):
            try:
                spool.check_room(0)
            except StorageError as exc:
                refused.append(exc.message)
                return

    spool.check_room(0)
    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    workers = [threading.Thread(target=check) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    sweeper.join()
    assert refused == []
