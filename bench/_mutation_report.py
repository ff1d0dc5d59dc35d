"""Print what `mutmut run` left: the survival rate, overall and per module, and each surviving mutant."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

TARGET = 0.10


def main() -> int:
    mutmut = Path(sys.executable).with_name("mutmut")
    subprocess.run([str(mutmut), "export-cicd-stats"], check=True, capture_output=True)
    stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
    listing = subprocess.run([str(mutmut), "results", "--all", "true"], capture_output=True, text=True).stdout
    per_module: dict[str, Counter] = {}
    survivors = []
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        module = name.split(".x")[0].split(".xǁ")[0]
        per_module.setdefault(module, Counter())[status] += 1
        if status == "survived":
            survivors.append(name)
    for module, counts in sorted(per_module.items()):
        tried = counts["killed"] + counts["survived"]
        rate = counts["survived"] / tried if tried else 0.0
        print(f"{module:28} {counts['killed']:5} killed {counts['survived']:5} survived  {rate:6.1%}")
    tried = stats["killed"] + stats["survived"]
    rate = stats["survived"] / tried if tried else 0.0
    print(f"{'all':28} {stats['killed']:5} killed {stats['survived']:5} survived  {rate:6.1%} (target < {TARGET:.0%})")
    print(
        f"timeouts {stats.get('timeout', 0)}, suspicious {stats.get('suspicious', 0)}, no tests {stats.get('no_tests', 0)}"
    )
    for name in survivors:
        print(f"  survived: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
