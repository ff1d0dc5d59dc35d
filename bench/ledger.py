"""Reservations per second on SQLite at 1, 4 and 16 processes, and the overshoot of 64-way bursts,
beside a naive read-then-write version of the same check (kept here only, as the baseline).
Target: at least 5,000 reservations/s at 4 processes; overshoot 0."""

from __future__ import annotations

import multiprocessing
import sqlite3
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from _common import table, verdict

from imagegen import LimitReached, Settings
from imagegen.db import Database
from imagegen.ledger import Ledger

PER_PROCESS = 3000
BURSTS = 10


def make(path: Path, **kw) -> Ledger:
    return Ledger(Database(path), Settings(data_dir=path.parent, **kw))


def _throughput_worker(path, worker, start, done):
    ledger = make(path, daily_quota=1_000_000, daily_budget_usd=Decimal(1_000_000))
    ledger.db.connection()
    start.wait()
    for i in range(PER_PROCESS):
        ledger.reserve(request_id=f"w{worker}-{i}", user=f"user{i % 500}", n=1, estimated_micros=10, details={})
    done.put(worker)


def throughput(processes: int) -> float:
    ctx = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "l.db"
        make(path).db.connection()
        start, done = ctx.Barrier(processes + 1), ctx.Queue()
        procs = [ctx.Process(target=_throughput_worker, args=(path, w, start, done)) for w in range(processes)]
        for p in procs:
            p.start()
        start.wait()
        began = time.perf_counter()
        for _ in procs:
            done.get()
        elapsed = time.perf_counter() - began
        for p in procs:
            p.join()
    return processes * PER_PROCESS / elapsed


def naive_reserve(path: Path, request_id: str, user: str, quota: int) -> bool:
    """The seed's check: read the count, then write. Two statements, no lock between them."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    used = conn.execute("SELECT COUNT(*) FROM naive WHERE user = ?", (user,)).fetchone()[0]
    if used >= quota:
        conn.close()
        return False
    time.sleep(0)  # the gap in which every other request reads the same count
    conn.execute("INSERT INTO naive (id, user) VALUES (?, ?)", (request_id, user))
    conn.close()
    return True


def _burst_worker(path, naive, start, results, worker):
    ledger = None if naive else make(path, daily_quota=5)
    admitted = []

    def one(i):
        start.wait()
        rid = f"w{worker}-t{i}"
        if naive:
            admitted.append(naive_reserve(path, rid, "ann", 5))
            return
        try:
            ledger.reserve(request_id=rid, user="ann", n=1, estimated_micros=0, details={})
            admitted.append(True)
        except LimitReached:
            admitted.append(False)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(sum(admitted))


def burst_overshoot(naive: bool) -> int:
    ctx = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "b.db"
        make(path).db.connection()
        sqlite3.connect(path).execute("CREATE TABLE naive (id TEXT PRIMARY KEY, user TEXT)")
        start, results = ctx.Barrier(64), ctx.Queue()
        procs = [ctx.Process(target=_burst_worker, args=(path, naive, start, results, w)) for w in range(4)]
        for p in procs:
            p.start()
        admitted = sum(results.get() for _ in procs)
        for p in procs:
            p.join()
    return admitted - 5


def main() -> None:
    rates = {n: throughput(n) for n in (1, 4, 16)}
    ours = [burst_overshoot(naive=False) for _ in range(BURSTS)]
    naive = [burst_overshoot(naive=True) for _ in range(BURSTS)]
    table(
        "Ledger reservations (SQLite WAL, BEGIN IMMEDIATE, conditional UPDATEs)",
        [(f"{n:2d} processes", f"{rate:8,.0f} reservations/s") for n, rate in rates.items()]
        + [
            (f"64-way bursts x{BURSTS}, quota 5: overshoot (ours)", f"max {max(ours)}, total {sum(ours)}"),
            (
                f"64-way bursts x{BURSTS}, quota 5: overshoot (naive read-then-write)",
                f"max {max(naive)}, total {sum(naive)} (+{100 * sum(naive) / (5 * BURSTS):.0f}%)",
            ),
        ],
    )
    verdict(rates[4] >= 5000, f"{rates[4]:,.0f} reservations/s at 4 processes (target >= 5,000)")
    verdict(max(ours) == 0, f"overshoot {max(ours)} across {BURSTS} bursts (target 0)")


if __name__ == "__main__":
    main()
