"""How long a command takes to start, beside a bare interpreter: `--help` must answer within 150 ms, and a
command that draws no figures must not import pandas (it loads only what it uses)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from _common import ROOT, table, verdict

REPEAT = 7
HELP_TARGET_S = 0.150
PROBE = (
    "import sys, runpy\n"
    "sys.argv = ['imagegen', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('imagegen', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "print('PANDAS' if 'pandas' in sys.modules else 'NO-PANDAS', file=sys.stderr)\n"
)


def wall_seconds(argv: list[str], env: dict[str, str]) -> float:
    """The median wall time of a whole process running `argv`."""
    samples = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, check=False)
        samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[len(samples) // 2]


def imports_pandas(command: list[str], env: dict[str, str]) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *command], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    return "NO-PANDAS" not in done.stderr


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "IMAGEGEN_DATA_DIR": tmp, "IMAGEGEN_PROVIDER": "offline"}
        bare = wall_seconds([sys.executable, "-c", "pass"], env)
        rows = [("bare interpreter", f"{bare * 1000:7.1f} ms")]
        timings = {}
        for command in (["--help"], ["models"], ["quota"], ["usage"]):
            seconds = wall_seconds([sys.executable, "-m", "imagegen", *command], env)
            timings[command[0]] = seconds
            pandas = "imports pandas" if imports_pandas(command, env) else "no pandas"
            rows.append(
                (
                    f"python -m imagegen {command[0]}",
                    f"{seconds * 1000:7.1f} ms   {seconds / bare:5.1f}x bare   {pandas}",
                )
            )
        quota_pandas = imports_pandas(["quota"], env)
    table(f"Command start-up, median of {REPEAT} runs", rows)
    verdict(timings["--help"] <= HELP_TARGET_S, f"--help in {timings['--help'] * 1000:.0f} ms (target <= 150 ms)")
    verdict(not quota_pandas, "quota, a command without figures, does not import pandas")


if __name__ == "__main__":
    main()
