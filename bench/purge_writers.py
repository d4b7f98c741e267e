"""The purge benchmark's writers: two processes of their own that write every WRITE_EVERY seconds beside a
measurement (one inserts a signal, one changes an expired signal of the organization being purged) and time every
write, and a watch on SQLite's write-ahead log."""

import multiprocessing
import os
import random
import sqlite3
import threading
import time

import psycopg2

from bench.purge_fill import BLOCK, WRITER
from hookyard.core.clock import utcnow

WRITE_EVERY = 0.020
QUIET_SECONDS = 3  # writers run this long before each measurement: their latency with nothing else going on
BUSY_TIMEOUT = 5.0  # the app's SQLite busy_timeout: a write waiting longer fails there with "database is locked"


def open_writer(target: tuple[str, str]):
    kind, where = target
    if kind == "sqlite":
        connection = sqlite3.connect(where, timeout=600, isolation_level=None)  # waits, so the whole wait is seen
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        return connection, "?"
    connection = psycopg2.connect(where)
    connection.autocommit = True
    return connection, "%s"


def write_steadily(target, what: str, owner_half: int, rows: int, stop, ready, results) -> None:
    """Every WRITE_EVERY seconds, insert a signal (`insert`) or change an expired one of the organization being
    purged (`update`, among the first half of the `rows` filled), in a transaction of its own; put (start time,
    seconds taken, error) of each write on `results` when told to stop."""
    connection, mark = open_writer(target)
    cursor, timings, number, rng = connection.cursor(), [], 0, random.Random(what)
    insert = (
        "INSERT INTO signal (id, organization_id, source, event, email, cold_storage, status, dedupe_key, payload,"
        f" received_at, processed_at) VALUES ({', '.join([mark] * 11)})"
    )
    update = f"UPDATE signal SET mapped_signal = {mark} WHERE id = {mark}"
    ready.set()
    due = time.time()
    while not stop.is_set():
        number += 1
        now = str(utcnow())
        started, error = time.time(), None
        try:
            if what == "insert":
                values = (10**12 + owner_half * 10**9 + number, WRITER, "segment", "Page Viewed", "w@example.com",
                          False, "processed", f"sha256:writer{owner_half}-{number}", '{"event":"Page Viewed"}', now,
                          now)  # fmt: skip
                cursor.execute(insert, values)
            else:
                expired = rng.randrange(rows // 2 // (2 * BLOCK)) * 2 * BLOCK + owner_half * BLOCK
                cursor.execute(update, (f"Mapped {number}", max(1, expired + rng.randrange(BLOCK))))
        except (sqlite3.Error, psycopg2.Error) as failure:  # counted, never fatal: the run goes on
            error = str(failure)
        timings.append((started, time.time() - started, error))
        due = max(due + WRITE_EVERY, time.time())
        time.sleep(max(0.0, due - time.time()))
    connection.close()
    results.put((what, timings))


class Writers:
    """Two processes writing beside a measurement (one inserts, one updates), started QUIET_SECONDS before it."""

    def __init__(self, target: tuple[str, str], owner_half: int, rows: int):
        context = multiprocessing.get_context("spawn")
        self.stop, self.results = context.Event(), context.Queue()
        self.readies = [context.Event(), context.Event()]
        self.processes = [
            context.Process(
                target=write_steadily, args=(target, what, owner_half, rows, self.stop, ready, self.results)
            )
            for what, ready in zip(("insert", "update"), self.readies, strict=True)
        ]

    def __enter__(self):
        for process in self.processes:
            process.start()
        for ready in self.readies:
            ready.wait(60)
        time.sleep(QUIET_SECONDS)
        return self

    def finish(self, start: float, end: float) -> dict:
        """Stop; return latency figures of writes started before `start` (quiet) and between start and end."""
        self.stop.set()
        timings = dict(self.results.get(timeout=900) for _ in self.processes)
        for process in self.processes:
            process.join()
        figures = {}
        for what, samples in timings.items():
            figures[what] = {
                "quiet": latency([sample for sample in samples if sample[0] < start]),
                "during": latency([sample for sample in samples if start <= sample[0] <= end]),
            }
        return figures

    def __exit__(self, *_):
        self.stop.set()
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.terminate()


def latency(samples: list[tuple]) -> dict:
    """Count the writes and their failures; give the median, 99th percentile and longest time a write took."""
    if not samples:
        return {"writes": 0}
    ordered = sorted(took for _, took, _ in samples)

    def rank(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    over = sum(1 for took in ordered if took > BUSY_TIMEOUT)
    return {"writes": len(ordered), "p50_ms": rank(0.5), "p99_ms": rank(0.99), "max_ms": ordered[-1] * 1000,
            "over_5s": over, "errors": sum(1 for *_, error in samples if error)}  # fmt: skip


class WalWatch:
    """Follows the size of a SQLite write-ahead log from a thread; remembers the largest."""

    def __init__(self, path: str):
        self.path, self.peak, self.stop = path + "-wal", 0, threading.Event()
        self.thread = threading.Thread(target=self.follow, daemon=True)

    def bytes(self) -> int:
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return 0
        self.peak = max(self.peak, size)
        return size

    def follow(self) -> None:
        while not self.stop.wait(0.25):
            self.bytes()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join()
