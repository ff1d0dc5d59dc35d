"""Print what `mutmut run` left: the survival rate, overall and per module, and each surviving mutant.

A survivor whose change is only the letter case of its line is set apart as equivalent: SQL keywords and
identifiers, sqlite3.Row keys and Pillow's format names are case-insensitive, so no test can tell such a
mutant from the original. A few other survivors are explained below (EXPLAINED): each names the line it
matches and why no test should tell it apart. Every other survivor counts, and is printed with its diff.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

TARGET = 0.10
#: (module, text in the mutated original line, text in the mutant's line, why it is not a missing test)
EXPLAINED = [
    (
        "imagegen.imaging",
        "thumb.save(",
        "",
        "the thumbnail encoder's quality and effort change only its bytes' size and speed (bench/pipeline.py)",
    ),
    (
        "imagegen.imaging",
        "source.resize(",
        "",
        "resampling filter, its reducing gap, or resizing at a scale of 1 change only smoothing, never the size",
    ),
    ("imagegen.imaging", "scale = min(1.0", "min(2.0", "a scale above 1 is never applied: the image is kept as is"),
    ("imagegen.imaging", 'format="PNG", compress_level=1', "", "PNG compression level changes size and speed only"),
    (
        "imagegen.imaging",
        'warnings.simplefilter("error", Image.DecompressionBombWarning)',
        "",
        "turning every warning into an error still turns the bomb warning into one; a valid image warns of nothing",
    ),
    (
        "imagegen.imaging",
        "image.convert(",
        "",
        "Pillow converts a palette's transparency itself and WebP drops an alpha that is fully opaque: the "
        "thumbnail read back is the same",
    ),
    ("imagegen.masks", "compress_level=1", "", "PNG compression level changes size and speed only"),
    ("imagegen.masks", "share * 1e30", "1e+30", "the same number written another way"),
    (
        "imagegen.masks",
        "layer.resize(size, Image.Resampling.LANCZOS)",
        "",
        "the filter that scales a markup drawn at the canvas's size changes its smoothing, never where it is",
    ),
    (
        "imagegen.providers.answers",
        "unsynced",
        "",
        "syncing every MiB only shortens the final fsync (bench/answer_window.py); the answer is written either way",
    ),
    (
        "imagegen.providers.answers",
        "SYNC_EVERY_BYTES",
        "",
        "syncing every MiB only shortens the final fsync (bench/answer_window.py); the answer is written either way",
    ),
    (
        "imagegen.providers.answers",
        "view = view[written:]",
        "",
        "a regular file takes every byte of a chunk in one write: the loop guards against a short write only",
    ),
    ("imagegen.uploads", "quality=WEBP_QUALITY", "", "the encoder's quality changes the bytes' size and detail only"),
]
MUTMUT = str(Path(sys.executable).with_name("mutmut"))


def results() -> list[tuple[str, str]]:
    listing = subprocess.run([MUTMUT, "results", "--all", "true"], capture_output=True, text=True).stdout
    found = []
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            found.append((name, status))
    return found


def diff(name: str) -> tuple[list[str], list[str]]:
    shown = subprocess.run([MUTMUT, "show", name], capture_output=True, text=True).stdout.splitlines()
    removed = [line[1:] for line in shown if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in shown if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def is_case_only(removed: list[str], added: list[str]) -> bool:
    return bool(removed) and [r.lower() for r in removed] == [a.lower() for a in added]


def explained(module: str, removed: list[str], added: list[str]) -> str:
    for where, original, mutant, reason in EXPLAINED:
        if module == where and any(original in line for line in removed) and any(mutant in line for line in added):
            return reason
    return ""


def module_of(name: str) -> str:
    return name.split(".x")[0]


def main() -> int:
    counts: dict[str, Counter] = {}
    survivors = []
    reasons: Counter = Counter()
    for name, status in results():
        tally = counts.setdefault(module_of(name), Counter())
        if status == "survived":
            removed, added = diff(name)
            if is_case_only(removed, added):
                tally["equivalent"] += 1
                continue
            reason = explained(module_of(name), removed, added)
            if reason:
                tally["explained"] += 1
                reasons[reason] += 1
                continue
            survivors.append((name, removed, added))
        tally[status] += 1
    total = Counter()
    for module, tally in sorted(counts.items()):
        total.update(tally)
        print(_row(module, tally))
    print(_row("all", total) + f"  (target < {TARGET:.0%})")
    for reason, count in reasons.items():
        print(f"explained ({count}): {reason}")
    for name, removed, added in survivors:
        print(f"\nsurvived: {name}")
        for line in removed:
            print(f"  - {line.strip()}")
        for line in added:
            print(f"  + {line.strip()}")
    return 0


def _row(label: str, tally: Counter) -> str:
    tried = tally["killed"] + tally["survived"]
    rate = tally["survived"] / tried if tried else 0.0
    return (
        f"{label:22} killed {tally['killed']:5}  survived {tally['survived']:4}  {rate:6.1%}  "
        f"equivalent {tally['equivalent']:3}  explained {tally['explained']:3}  no tests {tally['no tests']:3}  "
        f"timeout {tally['timeout']:2}"
    )


if __name__ == "__main__":
    sys.exit(main())
