"""Purge (retention) benchmark: `make bench-purge`.

Fills BENCH_PURGE_ROWS signals (default 10,000,000) received over the last 180 days, a tenth as many flow events,
a twentieth as many outbound events (two deliveries each, a fifth of them tried twice) and a hundredth as many
leads (two identities each), by set-based SQL in the database itself, indexes built after the rows (and a tenth as
much again with every index in place, to size indexes as a running service grows them). Two organizations take
turns every 100 rows, so each holds half of everything over the same days; with 90 days of retention about half
of each has expired. Then, in the same run and database:
  baseline: organization b's expired half removed unbatched, one transaction per kind: one UPDATE clearing the
            signal payloads, one clearing the flow event data, and the delivery history's three DELETEs;
  purge:    organization a's, by hookyard.ops.purge.purge(), batch by batch;
each while two other processes write every 20 ms on connections of their own (a new signal; a change to an expired
signal of the organization being purged) and time every write. It prints the bytes per row of each table, the
purge's rate, its longest batch (an upper bound on how long it holds its locks) as a ratio to the longest single
statement, the writers' latencies, and the disk space given back (SQLite: incremental vacuum; Postgres: VACUUM).
Halves, not a copy of the database per run, keep it to about 30 minutes on a 2-core machine (BENCH_DATABASES=postgres
runs one database's turn alone). Nothing is asserted. The fill's SQL is in purge_fill.py, the writers in
purge_writers.py, the measures of size in purge_sizes.py.
"""

import contextlib
import datetime
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.backends import databases, postgres_database
from bench.purge_fill import BATCHED, UNBATCHED, WRITER, PostgresSql, SqliteSql, fill, say
from bench.purge_sizes import (
    database_bytes,
    payload_bytes,
    per_row,
    raw_postgres,
    signal_row_bytes,
    sqlite_path,
    table_bytes,
)
from bench.purge_writers import WalWatch, Writers
from hookyard.core.clock import utcnow
from hookyard.core.config import Config
from hookyard.core.db import bind_database, close_database, db, migrate
from hookyard.ops import purge as purging
from hookyard.ops import retention, space
from models import Endpoint, Flow, FlowEvent, Organization, Signal

ROWS = int(os.environ.get("BENCH_PURGE_ROWS", "10000000"))
RETENTION_DAYS = 90
NOW = utcnow()  # the purge's clock; the fill's receipt times end here
RETENTION = datetime.timedelta(days=RETENTION_DAYS)
T0 = int((NOW - datetime.timedelta(days=180)).replace(tzinfo=datetime.UTC).timestamp() * 1_000_000)


def prepare() -> None:
    """Make the two organizations (and one the writers insert for), their flows, webhooks and retention."""
    days = {"signal_payload_days": RETENTION_DAYS, "flow_event_payload_days": RETENTION_DAYS,
            "delivery_history_days": RETENTION_DAYS}  # fmt: skip
    for expected, name in ((BATCHED, "a"), (UNBATCHED, "b")):
        organization = Organization.create(name=f"bench {name}").id
        assert organization == expected, "the fill names the organizations by id"
        for n in range(4):
            Flow.create(id=f"flow_bench_{name}{n}", organization=organization, name=f"GitHub {n}",
                        webhook_id=f"wh_bench_{name}{n}")  # fmt: skip
        for n in range(2):
            Endpoint.create(id=f"hook_bench_{name}{n}", organization=organization, url=f"https://example.com/{n}",
                            events=["*"], secret_encrypted="sealed")  # fmt: skip
        retention.set_policy(organization, days)
    assert Organization.create(name="writer").id == WRITER


def settle(sql, url: str) -> None:
    """Leave the database as a running service would: SQLite's log checkpointed; Postgres vacuumed and analysed,
    as autovacuum does to tables months old (it is off on the benchmark machine's server, so done here)."""
    if sql.key == "sqlite":
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    else:
        with raw_postgres(url) as cursor:
            cursor.execute("VACUUM (ANALYZE)")


GROUPS = {
    "signal_payload": "signal_payload",
    "flow_event_payload": "flow_event_payload",
    "delivery": "delivery_history",
    "delivery_attempt": "delivery_history",
    "event": "delivery_history",
}


def batched(organization: int) -> dict:
    """Run the purge; return its rows, seconds, transactions and the longest, overall and by kind.

    A transaction's time is the time between two committed batches (`observe`), which includes finding the next
    batch (and, on SQLite, the purge's own checkpoints of the write-ahead log): an upper bound on how long it held
    its locks.
    """
    batches, last = [], {"at": 0.0, "kind": None}

    def observe(kind: str, rows: int) -> None:
        moment = time.perf_counter()
        if kind == "delivery_attempt" and last["kind"] == "delivery":  # one transaction, counted twice
            batches[-1][1] += moment - last["at"]
        else:
            batches.append([GROUPS[kind], moment - last["at"]])
        last.update(kind=kind, at=moment)

    config = Config.from_env({}, database_url="sqlite://")
    last["at"] = started = time.perf_counter()
    purged = purging.purge(now=NOW, organization_id=organization, config=config, observe=observe)
    seconds = time.perf_counter() - started
    kinds = {}
    for group in dict.fromkeys(GROUPS.values()):
        took = [gap for name, gap in batches if name == group]
        rows = sum(purged[kind] for kind, name in GROUPS.items() if name == group)
        kinds[group] = {"rows": rows, "seconds": sum(took), "batches": len(took), "longest": max(took, default=0)}
    longest = max(gap for _, gap in batches)
    return {"rows": sum(purged.values()), "seconds": seconds, "batches": len(batches), "purged": purged,
            "longest": longest, "kinds": kinds}  # fmt: skip


def unbatched(organization: int, before: datetime.datetime, now: datetime.datetime) -> dict:
    """Do the purge's work unbatched: one transaction per kind; return rows and seconds, overall and by kind."""
    p = db.param
    expired = (
        f"SELECT e.id FROM event e WHERE e.organization_id = {p} AND e.created_at < {p} AND NOT EXISTS"
        " (SELECT 1 FROM delivery u WHERE u.event_id = e.id AND u.status NOT IN ('success', 'failed'))"
    )
    finished = f"SELECT d.id FROM delivery d WHERE d.event_id IN ({expired}) AND d.status IN ('success', 'failed')"
    history = [
        (f"DELETE FROM delivery_attempt WHERE delivery_id IN ({finished})", (organization, before)),
        (f"DELETE FROM delivery WHERE id IN ({finished})", (organization, before)),
        (f"DELETE FROM event WHERE organization_id = {p} AND created_at < {p} AND NOT EXISTS"
         " (SELECT 1 FROM delivery u WHERE u.event_id = event.id)", (organization, before)),
    ]  # fmt: skip
    steps = {
        "signal_payload": lambda: (
            Signal.update({Signal.payload: None, Signal.payload_purged_at: now})
            .where(
                (Signal.organization == organization) & (Signal.received_at < before) & Signal.payload.is_null(False)
            )
            .execute()
        ),
        "flow_event_payload": lambda: (
            FlowEvent.update({FlowEvent.data: None, FlowEvent.data_purged_at: now})
            .where(
                (FlowEvent.organization == organization)
                & (FlowEvent.received_at < before)
                & FlowEvent.data.is_null(False)
            )
            .execute()
        ),
        "delivery_history": lambda: sum(db.execute_sql(statement, params).rowcount for statement, params in history),
    }
    kinds = {}
    for kind, step in steps.items():
        started = time.perf_counter()
        with db.atomic():
            rows = step()
        kinds[kind] = {"rows": rows, "seconds": time.perf_counter() - started, "batches": 1}
        kinds[kind]["longest"] = kinds[kind]["seconds"]
    seconds = sum(kind["seconds"] for kind in kinds.values())
    return {"rows": sum(kind["rows"] for kind in kinds.values()), "seconds": seconds, "batches": len(kinds),
            "longest": max(kind["seconds"] for kind in kinds.values()), "kinds": kinds}  # fmt: skip


def give_space_back(sql, url: str, vacuum: bool) -> dict:
    """Do what the service does for the freed space (SQLite: incremental vacuum; Postgres, when `vacuum`: VACUUM,
    as autovacuum would); return the bytes before and after, and the seconds it took."""
    before = database_bytes(sql, url)
    started = time.perf_counter()
    if sql.key == "sqlite":
        done = f"{space.release_free_space():,} pages released by PRAGMA incremental_vacuum"
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    elif vacuum:
        with raw_postgres(url) as cursor:
            cursor.execute("VACUUM signal, flow_event, event, delivery, delivery_attempt")
        done = "VACUUM"
    else:
        done = "nothing (not vacuumed here)"
    took = time.perf_counter() - started
    free = None
    if sql.key == "postgres" and vacuum:
        with raw_postgres(url) as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
            cursor.execute("SELECT approx_free_space FROM pgstattuple_approx('signal')")
            free = cursor.fetchone()[0]
    return {"bytes_after_purge": before, "bytes_after_release": database_bytes(sql, url), "seconds": took,
            "done": done, "signal_free_bytes": free}  # fmt: skip


def measure(sql, url: str, organization: int, action, vacuum: bool) -> dict:
    """Bind the database at `url` and time `action()` with the writers beside it (and SQLite's log watched);
    then give the space back, as the service does."""
    database = bind_database(url)
    target = ("sqlite", sqlite_path(url)) if sql.key == "sqlite" else ("postgres", url)
    wal = WalWatch(sqlite_path(url)) if sql.key == "sqlite" else None
    with Writers(target, organization - BATCHED, ROWS) as writers, wal or contextlib.nullcontext():
        start = time.time()
        with database.connection_context():
            result = action()
        result["writers"] = writers.finish(start, time.time())
    result["wal_peak_bytes"] = wal.peak if wal else None
    with database.connection_context():
        result["space"] = give_space_back(sql, url, vacuum)
    close_database(database)
    return result


def filled_database(sql, url: str, rows: int, bulk: bool) -> dict:
    """Migrate and fill the database at `url`; return the fill's figures and the sizes."""
    database = bind_database(url)
    migrate(database)
    with database.connection_context():
        prepare()
        started = time.perf_counter()
        filled = fill(sql, T0, rows, bulk)
        filled["seconds"] = time.perf_counter() - started
    with database.connection_context():  # a new connection, with the app's settings
        settle(sql, url)
        filled["sizes"] = table_bytes(sql, url)
        filled["payload_bytes"] = payload_bytes(sql)
        filled["database_bytes"] = database_bytes(sql, url)
    close_database(database)
    say(f"   filled in {filled['seconds']:.0f} s; database {filled['database_bytes'] / 1e9:.2f} GB")
    return filled


def grown(sql, url: str) -> dict:
    """Fill a tenth as much with every index in place, in a database of its own, as rows arrive in a service
    (indexes built at once are packed; grown row by row in key order they are not); return its sizes."""
    if sql.key == "sqlite":
        url, drop = url.replace(".db", "-grown.db"), None
    else:
        url, drop = postgres_database()
    say(f"   a tenth as much, indexes grown row by row ({url.rsplit('/', 1)[1]}):")
    try:
        return filled_database(sql, url, ROWS // 10, bulk=False)
    finally:
        if drop:
            drop()
        else:
            for name in (sqlite_path(url), sqlite_path(url) + "-wal", sqlite_path(url) + "-shm"):
                if os.path.exists(name):
                    os.remove(name)


def run(label: str, url: str) -> dict:
    say(f"== {label}")
    sql = SqliteSql() if url.startswith("sqlite") else PostgresSql()
    sample = grown(sql, url)
    say(f"   {ROWS:,} signals, indexes built after the rows:")
    filled = filled_database(sql, url, ROWS, bulk=True)
    # The single statements first: the purge then works on the same state as a service's database (Postgres: its
    # dead rows not yet vacuumed, as autovacuum would leave them for a while; SQLite: its file as the UPDATE left it).
    # One VACUUM after both on Postgres: the same dead rows either way, and it would take as long again.
    baseline = measure(sql, url, UNBATCHED, lambda: unbatched(UNBATCHED, NOW - RETENTION, NOW), vacuum=False)
    report("baseline, unbatched (organization b)", baseline)
    purge = measure(sql, url, BATCHED, lambda: batched(BATCHED), vacuum=True)
    report("purge, in batches (organization a)", purge)
    result = {"filled": filled, "grown": sample, "purge": purge, "baseline": baseline}
    result["signal_row_bytes"] = signal_row_bytes(result)
    return result


def report(title: str, result: dict) -> None:
    rate = result["rows"] / result["seconds"]
    say(
        f"   {title}: {result['rows']:,} rows in {result['seconds']:.1f} s ({rate:,.0f} rows/s),"
        f" {result['batches']:,} transactions, longest {result['longest'] * 1000:,.0f} ms"
    )
    for kind, figures in result["kinds"].items():
        print(f"      {kind:<19} {figures['rows']:>11,} rows {figures['seconds']:8.1f} s"
              f"  {figures['batches']:>6,} transactions, longest {figures['longest'] * 1000:9,.0f} ms")  # fmt: skip
    for what, figures in result["writers"].items():
        for when in ("quiet", "during"):
            f = figures[when]
            if f["writes"]:
                print(f"      writer {what:<6} {when:<6} {f['writes']:>6,} writes  p50 {f['p50_ms']:8.1f} ms"
                      f"  p99 {f['p99_ms']:9.1f} ms  max {f['max_ms']:9.1f} ms  over 5 s: {f['over_5s']},"
                      f" failed: {f['errors']}")  # fmt: skip
    freed = result["space"]
    print(f"      database: {freed['bytes_after_purge'] / 1e9:.2f} GB after; {freed['bytes_after_release'] / 1e9:.2f}"
          f" GB after {freed['done']} ({freed['seconds']:.0f} s)", flush=True)  # fmt: skip
    if result["wal_peak_bytes"] is not None:
        print(f"      write-ahead log: {result['wal_peak_bytes'] / 1e9:.2f} GB at its largest")
    if freed["signal_free_bytes"] is not None:
        print(f"      free space inside the signal table after VACUUM: {freed['signal_free_bytes'] / 1e9:.2f} GB")


def summarise(label: str, result: dict) -> None:
    purge, baseline = result["purge"], result["baseline"]
    print(f"== {label} summary: bytes per row; indexes built at once ({ROWS:,} signals) and grown row by row "
          f"({ROWS // 10:,})")  # fmt: skip
    built, grown_rows = per_row(result["filled"]), per_row(result["grown"])
    for table, size in built.items():
        rows = result["filled"]["tables"][table]["rows"]
        print(f"   {table:<17} {rows:>12,} rows  table {size['table']:6.0f}  indexes {size['indexes']:6.0f} built,"
              f" {grown_rows[table]['indexes']:6.0f} grown")  # fmt: skip
    row = result["signal_row_bytes"]
    print(f"   a signal's table part: {row['table_with_payload']:.0f} bytes with its payload (stored payload "
          f"{row['payload']:.0f}), {row['table_without_payload']:.0f} without")  # fmt: skip
    print(f"   purge / unbatched, total time: {purge['seconds'] / baseline['seconds']:.2f}; longest batch / longest"
          f" unbatched transaction: {purge['longest'] / baseline['longest']:.4f}")  # fmt: skip
    for what in ("insert", "update"):
        during = purge["writers"][what]["during"], baseline["writers"][what]["during"]
        if during[0]["writes"] and during[1]["writes"]:
            p99, top = (during[0][name] / during[1][name] for name in ("p99_ms", "max_ms"))
            print(f"   writer {what}, during the purge / during unbatched: p99 {p99:.3f}, max {top:.3f}")


def main() -> None:
    results = {}
    scratch_root = os.environ.get("BENCH_PURGE_SCRATCH") or None
    with tempfile.TemporaryDirectory(prefix="hookyard-purge-", dir=scratch_root) as scratch:
        for key, label, url in databases(scratch, "purge"):
            results[key] = run(label, url)
            summarise(label, results[key])
    print(json.dumps({"rows": ROWS, "results": results}, default=float))


if __name__ == "__main__":
    main()
