"""One replica of the studio's engine for the replica tests: its own process, configured by the environment
(the shared PostgreSQL, the shared bucket, the provider), starting the engine as the server does (settling
what a previous run left on its disk, then taking jobs and sweeping).

    python -m tests.replica [--submit N --prefix P (--user U | --many-users)] [--start-file F]
    python -m tests.replica --run N

With --run it starts a run of N prompts as far as it goes (as the Runs page does), prints `run <id>`, and
serves the shared queue until it is stopped.

It waits for the start file (so that several replicas submit at once), submits its N jobs, prints a line
`submitted <queued> refused <n>`, waits for its jobs to end, prints one JSON line per job, and then keeps
serving the shared queue and sweeping until it is stopped.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from imagegen import GenerationRequest, LimitReached
from tests.engine_parts import wait_for
from ui import runtime

TIMEOUT = 90
ROOT = Path(__file__).resolve().parent.parent


class Replica:
    """`python -m tests.replica` with its own data folder (its own spool), its output read line by line."""

    def __init__(self, env: dict[str, str], data_dir: Path, *args: str) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir / "replica.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.replica", *args],
            cwd=ROOT,
            env={**env, "IMAGEGEN_DATA_DIR": str(data_dir)},
            stdout=subprocess.PIPE,
            stderr=self.log.open("w"),
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("ready")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def expect(self, prefix: str) -> str:
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    tail = self.log.read_text()[-3000:]
                    raise RuntimeError(f"the replica exited with {self.process.returncode}:\n{tail}") from None
                continue
            if line.startswith(prefix):
                return line
        raise TimeoutError(f"the replica never said {prefix!r}")

    def results(self) -> tuple[int, list[dict]]:
        """(refused at submission, each queued job's end), once the replica has finished its jobs."""
        refused = int(self.expect("submitted").split()[-1])
        ended = []
        while (line := self.expect("")) != "done":
            ended.append(json.loads(line))
        return refused, ended

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submit", type=int, default=0)
    parser.add_argument("--prefix", default="job")
    parser.add_argument("--user", default="ann")
    parser.add_argument("--many-users", action="store_true")
    parser.add_argument("--model", default="")
    parser.add_argument("--start-file", type=Path)
    parser.add_argument("--run", type=int, default=0)
    args = parser.parse_args()
    studio = runtime.start()  # as the server starts: settling what this replica's disk holds first
    print("ready", flush=True)
    if args.run:
        prompts = "\n".join(f"icon {i:03d}" for i in range(args.run))
        plan = studio.plan_run(args.user, prompts=prompts, presets=["photo"], sizes=["1024x1024"])
        print(f"run {studio.start_run(plan, args.user, 'as far as it goes')}", flush=True)
    if args.start_file is not None:
        while not args.start_file.exists():
            time.sleep(0.005)
    queued, refused = [], 0
    for i in range(args.submit):
        user = f"{args.prefix}-user{i}" if args.many_users else args.user
        request = GenerationRequest(
            f"a fox, take {i:02d}", request_id=f"{args.prefix}-request-{i:03d}", model=args.model
        )
        try:
            queued.append(studio.submit(request, user))
        except LimitReached:
            refused += 1
    print(f"submitted {len(queued)} refused {refused}", flush=True)
    for job_id in queued:
        job = wait_for(studio, job_id, timeout=300)
        print(json.dumps({"id": job.id, "status": job.status, "error_code": job.error_code}), flush=True)
    print("done", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
