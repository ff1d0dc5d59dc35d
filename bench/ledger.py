"""Reservations per second and the overshoot of 64-way bursts, on SQLite (1, 4 and 16 processes) and on
PostgreSQL (1, 16 and 64 clients), each beside a naive read-then-write version of the same check (kept
here only, as the baseline). PostgreSQL is Debian's, started here with its default durability settings.
Targets: SQLite at least 5,000 reservations/s at 4 processes; PostgreSQL at least 1,000/s at 16 clients;
overshoot 0 everywhere."""

from __future__ import annotations

import multiprocessing
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

from _common import table, verdict

from imagegen import LimitReached, Settings
from imagegen.db import Database
from imagegen.ledger import Ledger
from imagegen.schema import migrate, open_database
from tests.postgres import PostgresServer

PER_CLIENT = {"sqlite": 3000, "postgresql": 400}
BURSTS = 10
QUOTA = 5


def make(target: str | Path, **kw) -> Ledger:
    folder = target.parent if isinstance(target, Path) else Path(tempfile.gettempdir())
    return Ledger(open_database(target), Settings(data_dir=folder, **kw))


def prepare(target: str | Path) -> None:
    """Migrate once, in this process, and close before forking: no connection may cross a fork."""
    ledger = make(target)
    migrate(ledger.db)
    with ledger.db.write() as conn:
        conn.execute('CREATE TABLE IF NOT EXISTS naive (id TEXT PRIMARY KEY, "user" TEXT)')
    ledger.db.close()


# -- throughput -------------------------------------------------------------------------------------


def _throughput_worker(target, kind, threads, worker, start, done):
    ledger = make(target, daily_quota=1_000_000, daily_budget_usd=Decimal(1_000_000))
    migrate(ledger.db)

    def client(thread: int) -> None:
        for i in range(PER_CLIENT[kind]):
            rid = f"w{worker}-{thread}-{i}"
            ledger.reserve(ledger_id=rid, user=f"user{i % 500}", n=1, estimated_micros=10, details={})

    pool = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    start.wait()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    done.put(worker)


def throughput(target: str | Path, kind: str, processes: int, threads: int = 1) -> float:
    ctx = multiprocessing.get_context("fork")
    start, done = ctx.Barrier(processes + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_throughput_worker, args=(target, kind, threads, w, start, done)) for w in range(processes)
    ]
    for p in procs:
        p.start()
    start.wait()
    began = time.perf_counter()
    for _ in procs:
        done.get()
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join()
    return processes * threads * PER_CLIENT[kind] / elapsed


# -- bursts -----------------------------------------------------------------------------------------


def naive_reserve(db: Database, request_id: str, user: str, quota: int) -> bool:
    """The seed's check: read the count, then write. Two statements, no lock between them."""
    used = db.query('SELECT COUNT(*) FROM naive WHERE "user" = :user', {"user": user})[0][0]
    if used >= quota:
        return False
    time.sleep(0)  # the gap in which every other request reads the same count
    with db.write() as conn:
        conn.execute('INSERT INTO naive (id, "user") VALUES (:id, :user)', {"id": request_id, "user": user})
    return True


def _burst_worker(target, naive, start, results, worker):
    ledger = make(target, daily_quota=QUOTA)
    migrate(ledger.db)
    admitted = []

    def one(i):
        start.wait()
        rid = f"w{worker}-t{i}-{uuid.uuid4().hex[:6]}"
        if naive:
            admitted.append(naive_reserve(ledger.db, rid, "ann", QUOTA))
            return
        try:
            ledger.reserve(ledger_id=rid, user="ann", n=1, estimated_micros=0, details={})
            admitted.append(True)
        except LimitReached:
            admitted.append(False)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(sum(admitted))


def burst_overshoot(target: str | Path, naive: bool) -> int:
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Barrier(64), ctx.Queue()
    procs = [ctx.Process(target=_burst_worker, args=(target, naive, start, results, w)) for w in range(4)]
    for p in procs:
        p.start()
    admitted = sum(results.get() for _ in procs)
    for p in procs:
        p.join()
    return admitted - QUOTA


def bursts(new_target, naive: bool) -> list[int]:
    found = []
    for _ in range(BURSTS):
        target = new_target()
        prepare(target)
        found.append(burst_overshoot(target, naive))
    return found


def burst_rows(label: str, ours: list[int], naive: list[int]) -> list[tuple[str, str]]:
    return [
        (f"{label}: 64-way bursts x{BURSTS}, quota {QUOTA}: overshoot (ours)", f"max {max(ours)}, total {sum(ours)}"),
        (
            f"{label}: the same, naive read-then-write",
            f"max {max(naive)}, total {sum(naive)} (+{100 * sum(naive) / (QUOTA * BURSTS):.0f}%)",
        ),
    ]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = iter(Path(tmp) / f"l{i}.db" for i in range(1000))

        def sqlite_target() -> Path:
            target = next(files)
            prepare(target)
            return target

        sqlite_rates = {n: throughput(sqlite_target(), "sqlite", n) for n in (1, 4, 16)}
        sqlite_ours, sqlite_naive = bursts(lambda: next(files), False), bursts(lambda: next(files), True)

    server = PostgresServer(durable=True).start()
    try:

        def pg_target() -> str:
            target = server.url(server.create_database())
            prepare(target)
            return target

        # clients: (processes, threads each); one Python process drives at most 16 connections
        shapes = {1: (1, 1), 16: (4, 4), 64: (4, 16)}
        pg_rates = {n: throughput(pg_target(), "postgresql", *shape) for n, shape in shapes.items()}
        pg_ours = bursts(lambda: server.url(server.create_database()), False)
        pg_naive = bursts(lambda: server.url(server.create_database()), True)
    finally:
        server.stop()

    table(
        "Ledger reservations: the log row and conditional upserts, one transaction (SQLite WAL, BEGIN "
        "IMMEDIATE) or one statement (PostgreSQL READ COMMITTED)",
        [(f"SQLite, {n:2d} processes", f"{rate:8,.0f} reservations/s") for n, rate in sqlite_rates.items()]
        + [(f"PostgreSQL, {n:2d} clients", f"{rate:8,.0f} reservations/s") for n, rate in pg_rates.items()]
        + burst_rows("SQLite", sqlite_ours, sqlite_naive)
        + burst_rows("PostgreSQL", pg_ours, pg_naive),
    )
    verdict(sqlite_rates[4] >= 5000, f"SQLite: {sqlite_rates[4]:,.0f} reservations/s at 4 processes (target >= 5,000)")
    verdict(pg_rates[16] >= 1000, f"PostgreSQL: {pg_rates[16]:,.0f} reservations/s at 16 clients (target >= 1,000)")
    verdict(
        max(sqlite_ours + pg_ours) == 0, f"overshoot {max(sqlite_ours + pg_ours)} in {2 * BURSTS} bursts (target 0)"
    )


if __name__ == "__main__":
    main()
