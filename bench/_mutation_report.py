"""Print what `mutmut run` left: the survival rate, overall and per module, and each surviving mutant.

A survivor whose change is only the letter case of its line is set apart as equivalent: SQL keywords and
identifiers, and sqlite3.Row keys, are case-insensitive, so no test can tell such a mutant from the
original. Every other survivor counts, and is printed with its diff.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

TARGET = 0.10
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


def module_of(name: str) -> str:
    return name.split(".x")[0]


def main() -> int:
    counts: dict[str, Counter] = {}
    survivors = []
    for name, status in results():
        tally = counts.setdefault(module_of(name), Counter())
        if status == "survived":
            removed, added = diff(name)
            if is_case_only(removed, added):
                tally["equivalent"] += 1
                continue
            survivors.append((name, removed, added))
        tally[status] += 1
    total = Counter()
    for module, tally in sorted(counts.items()):
        total.update(tally)
        print(_row(module, tally))
    print(_row("all", total) + f"  (target < {TARGET:.0%})")
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
        f"equivalent {tally['equivalent']:3}  no tests {tally['no tests']:3}  timeout {tally['timeout']:2}"
    )


if __name__ == "__main__":
    sys.exit(main())
