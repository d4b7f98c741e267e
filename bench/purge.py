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
Halves, not a copy of the database per run, keep it to about 40 minutes on a 2-core machine. Nothing is asserted.
"""

import contextlib
import datetime
import json
import multiprocessing
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import psycopg2
from peewee import PostgresqlDatabase

from bench.backends import databases, postgres_database
from hookyard.core.clock import utcnow
from hookyard.core.config import Config
from hookyard.core.db import bind_database, db, migrate
from hookyard.ops import purge as purging
from hookyard.ops import retention, space
from models import Endpoint, Flow, FlowEvent, Organization, Signal

ROWS = int(os.environ.get("BENCH_PURGE_ROWS", "10000000"))
SPAN_US = 180 * 86400 * 1_000_000  # the fill's receipt times cover the 180 days before now
RETENTION_DAYS = 90
WRITE_EVERY = 0.020
QUIET_SECONDS = 3  # writers run this long before each measurement: their latency with nothing else going on
WAL_CAP = 2 * 10**9  # past this the benchmark checkpoints SQLite's log between batches (it grew ~5 GB a minute)
BUSY_TIMEOUT = 5.0  # the app's SQLite busy_timeout: a write waiting longer fails there with "database is locked"
# Two organizations share the rows, taking turns every BLOCK rows (so both have every day of the 180, and each
# page of a table holds one's rows): BATCHED's are purged by hookyard.ops.purge, UNBATCHED's by single statements.
BATCHED, UNBATCHED, WRITER = 1, 2, 3
BLOCK = 100
TABLES = ("signal", "flow_event", "event", "delivery", "delivery_attempt", "lead", "identity")
STARTED = time.monotonic()
NOW = utcnow()  # the purge's clock; the fill's receipt times end here
RETENTION = datetime.timedelta(days=RETENTION_DAYS)
T0 = int((NOW - datetime.timedelta(days=180)).replace(tzinfo=datetime.UTC).timestamp() * 1_000_000)
EVENT_NAMES = ("Page Viewed", "Signed Up", "Order Completed", "Product Added", "Trial Started", "Invite Sent")


class SqliteSql:
    """SQLite's spelling of what the fill needs."""

    key, true, false = "sqlite", "1", "0"
    # For the fill only (no journal, no fsync, no foreign key checks: the rows are consistent by construction);
    # after it the connection is closed and the app's own settings (WAL, synchronous=normal) apply again.
    fill_settings = ("PRAGMA foreign_keys = OFF", "PRAGMA journal_mode = OFF", "PRAGMA synchronous = OFF",
                     "PRAGMA cache_size = -2000000", "PRAGMA threads = 2")  # fmt: skip
    after_fill = ("PRAGMA journal_mode = WAL",)
    indexes = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({})"

    def series(self, count: int) -> tuple[str, str]:
        return f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) ", "s"

    def at(self, us: str) -> str:  # the text peewee stores for a naive datetime
        return f"(datetime(({us}) / 1000000, 'unixepoch') || printf('.%06d', ({us}) % 1000000))"

    def iso(self, us: str) -> str:
        return f"strftime('%Y-%m-%dT%H:%M:%SZ', ({us}) / 1000000, 'unixepoch')"

    def hex8(self, expr: str) -> str:
        return f"printf('%08x', (({expr}) * 2654435761) % 4294967296)"

    def pad(self, expr: str) -> str:
        return f"printf('%010d', {expr})"


class PostgresSql:
    """Postgres's spelling of what the fill needs."""

    key, true, false = "postgres", "true", "false"
    fill_settings = ("SET session_replication_role = replica", "SET maintenance_work_mem = '1GB'")
    after_fill = ("RESET session_replication_role", "RESET maintenance_work_mem")
    indexes = (  # those that back no constraint: the primary keys stay
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ({})"
        " AND indexname NOT IN (SELECT conname FROM pg_constraint)"
    )

    def series(self, count: int) -> tuple[str, str]:
        return "", f"generate_series(1::bigint, {count}) AS s(n)"

    def at(self, us: str) -> str:
        return f"(timestamp 'epoch' + ({us}) * interval '1 microsecond')"

    def iso(self, us: str) -> str:
        return f"""to_char({self.at(us)}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""

    def hex8(self, expr: str) -> str:
        return f"lpad(to_hex((({expr}) * 2654435761) % 4294967296), 8, '0')"

    def pad(self, expr: str) -> str:
        return f"lpad(({expr})::text, 10, '0')"


def uuid_like(sql, expr: str) -> str:
    """SQL for a UUID-shaped text derived from `expr` (the same on both databases)."""
    h = [sql.hex8(f"({expr}) * 8 + {k}") for k in range(1, 7)]
    parts = [h[0], f"substr({h[1]}, 1, 4)", f"'4' || substr({h[2]}, 1, 3)", f"'a' || substr({h[3]}, 1, 3)",
             f"{h[4]} || substr({h[5]}, 1, 4)"]  # fmt: skip
    return " || '-' || ".join(parts)


def hexes(sql, expr: str, count: int, salt: int = 0) -> str:
    """SQL for 8 * `count` hex digits derived from `expr`, looking random."""
    return " || ".join(sql.hex8(f"({expr}) * 16 + {salt + k}") for k in range(count))


def half(expr: str) -> str:
    """SQL: 0 when row `expr` belongs to BATCHED, 1 when to UNBATCHED."""
    return f"(({expr}) / {BLOCK}) % 2"


def owner(expr: str) -> str:
    return f"CASE WHEN {half(expr)} = 0 THEN {BATCHED} ELSE {UNBATCHED} END"


def letter(expr: str) -> str:  # the organization's flows and webhooks: flow_bench_a0, hook_bench_b1, ...
    return f"CASE WHEN {half(expr)} = 0 THEN 'a' ELSE 'b' END"


def fill_statements(sql, t0: int, rows: int) -> list[tuple[str, int, str]]:
    """Return (table, rows, INSERT ... SELECT) for every table the benchmark fills."""
    people, flow_events, events = max(rows // 100, 1), rows // 10, rows // 20
    deliveries, step = events * 2, SPAN_US // rows
    names = " ".join(f"WHEN {i} THEN '{name}'" for i, name in enumerate(EVENT_NAMES))

    def insert(table, count, columns, select, inner):
        prefix, source = sql.series(count)
        return table, count, f'{prefix}INSERT INTO "{table}" ({columns}) SELECT {select} FROM ({inner} FROM {source}) x'

    signal_payload = (
        f"""'{{"type":"track","event":"' || ev || '","userId":"usr_' || person || '","anonymousId":"' || anon"""
        f""" || '","messageId":"' || {hexes(sql, "n", 2)} || '","timestamp":"' || {sql.iso("u")}"""
        """ || '","properties":{"plan":"pro","revenue":' || (n % 500) || ',"currency":"USD"},"context":{"ip":"""
        """"203.0.113.' || (n % 250) || '","library":{"name":"analytics.js","version":"4.1.0"}},"traits":{"""
        """"email":"user' || person || '@example.com"}}'"""
    )
    flow_data = (
        f"""'{{"ref":"refs/heads/main","before":"' || {hexes(sql, "n", 5)}"""
        f""" || '","after":"' || {hexes(sql, "n", 5, 5)}"""
        """ || '","repository":{"id":' || (n % 1000) || ',"full_name":"example/app","private":true,"""
        """"html_url":"https://github.com/example/app"},"pusher":{"name":"dev' || (n % 50) || '","email":"dev'"""
        """ || (n % 50) || '@example.com"},"sender":{"login":"dev' || (n % 50) || '","type":"User"},"""
        f""""head_commit":{{"id":"' || {hexes(sql, "n", 5, 10)} || '","message":"Fix the build on main","""
        f""""timestamp":"' || {sql.iso("u")} || '","author":{{"name":"Dev ' || (n % 50) || '"}}}}}}'"""
    )
    event_body = (
        f"""'{{"type":"signal.received","timestamp":"' || {sql.iso("u")} || '","data":{{"id":' || n"""
        """ || ',"source":"segment","event":"Order Completed","email":"user' || (n % 977) || '@example.com","""
        f""""anonymous_id":"' || {uuid_like(sql, "n")} || '","received_at":"' || {sql.iso("u")}"""
        """ || '","properties":{"plan":"pro","revenue":' || (n % 500) || ',"currency":"USD"},"""
        """"context":{"library":{"name":"analytics.js","version":"4.1.0"}}}}'"""
    )
    event_id = f"'evt_' || {sql.pad('e')} || {hexes(sql, 'e', 2)}"
    delivery_id = f"'del_' || {sql.pad('n')} || {hexes(sql, 'n', 2, 2)}"
    event_step, person_step = SPAN_US // max(events, 1), SPAN_US // people
    return [
        insert(
            "lead", people, "id, organization_id, email, name, company, traits, score, created_at, updated_at",
            f"n, {owner('n')}, 'user' || (n - 1) || '@example.com', 'Person ' || (n - 1), 'Example ' || (n % 1000),"
            f""" '{{"name":"Person ' || (n - 1) || '","plan":"pro"}}', n % 100, {sql.at("u")}, {sql.at("u")}""",
            f"SELECT n, {t0} + n * {person_step} AS u",
        ),
        insert(
            "identity", people * 2, "organization_id, kind, value, lead_id, created_at",
            f"{owner('p + 1')}, CASE n % 2 WHEN 1 THEN 'anonymous_id' ELSE 'user_id' END, CASE n % 2 WHEN 1 THEN"
            f" {uuid_like(sql, 'p')} ELSE 'usr_' || p END, p + 1, {sql.at(f'{t0} + p * {person_step}')}",
            "SELECT n, (n + 1) / 2 - 1 AS p",
        ),
        insert(
            "signal", rows,
            'id, organization_id, source, event, email, anonymous_id, user_id, lead_id, cold_storage, status, '
            'dedupe_key, mapped_signal, payload, received_at, processed_at, "timestamp"',
            f"n, {owner('n')}, 'segment', ev, 'user' || person || '@example.com', anon, 'usr_' || person,"
            f" person + 1, {sql.false}, CASE WHEN n % 10 = 0 THEN 'mapped' ELSE 'processed' END,"
            f" 'sha256:' || {hexes(sql, 'n', 8)}, CASE WHEN n % 10 = 0 THEN 'Checkout' END, {signal_payload},"
            f" {sql.at('u')}, {sql.at('u + 5000')}, {sql.at('u - 1000000')}",
            f"SELECT n, {t0} + n * {step} AS u, n % {people} AS person, {uuid_like(sql, f'n % {people}')} AS anon,"
            f" CASE n % {len(EVENT_NAMES)} {names} END AS ev",
        ),
        insert(
            "flow_event", flow_events,
            "id, organization_id, flow_id, event, source, verified, duplicate, dedupe_key, status, data,"
            " outbound_event_id, received_at, received_minute, processed_at, latency_ms",
            f"'fev_' || {sql.pad('n')} || {hexes(sql, 'n', 2, 3)}, {owner('n')}, 'flow_bench_' || {letter('n')} ||"
            " (n % 4),"
            f" CASE n % 3 WHEN 0 THEN 'push' WHEN 1 THEN 'pull_request' ELSE 'issues' END, 'github', {sql.true},"
            f" {sql.false}, {uuid_like(sql, 'n')}, 'processed', {flow_data}, 'evt_' || {sql.pad('n')} ||"
            f" {hexes(sql, 'n', 2, 7)}, {sql.at('u')}, u / 60000000, {sql.at('u + 8000')}, 8",
            f"SELECT n, {t0} + n * {SPAN_US // max(flow_events, 1)} AS u",
        ),
        insert(
            "event", events, "id, organization_id, type, body, created_at",
            f"{event_id}, {owner('e')}, 'signal.received', {event_body}, {sql.at('u')}",
            f"SELECT n, n AS e, {t0} + n * {event_step} AS u",
        ),
        insert(
            "delivery", deliveries,
            "id, organization_id, endpoint_id, event_id, status, attempts, max_attempts, status_code, error,"
            " delivered_at, created_at",
            f"{delivery_id}, {owner('e')}, 'hook_bench_' || {letter('e')} || (n % 2), {event_id},"
            " CASE WHEN n % 50 = 0 THEN 'failed' ELSE 'success' END, CASE WHEN n % 5 = 0 THEN 2 ELSE 1 END, 5,"
            " CASE WHEN n % 50 = 0 THEN 500 ELSE 200 END, CASE WHEN n % 50 = 0 THEN 'HTTP 500' END,"
            f" CASE WHEN n % 50 <> 0 THEN {sql.at('u + 300000')} END, {sql.at('u')}",
            f"SELECT n, (n + 1) / 2 AS e, {t0} + ((n + 1) / 2) * {event_step} AS u",
        ),
        insert(
            "delivery_attempt", deliveries + deliveries // 5,
            "delivery_id, number, started_at, duration_ms, status_code, response_body",
            f"{delivery_id}, k, {sql.at('u + k * 30000000')}, 40 + n % 100, CASE WHEN k = 1 AND n % 5 = 0 OR"
            """ n % 50 = 0 THEN 500 ELSE 200 END, CASE WHEN k = 1 AND n % 5 = 0 OR n % 50 = 0 THEN"""
            """ 'Internal Server Error' ELSE '{"ok":true}' END""",
            f"SELECT CASE WHEN n <= {deliveries} THEN n ELSE (n - {deliveries}) * 5 END AS n, CASE WHEN n <="
            f" {deliveries} THEN 1 ELSE 2 END AS k, {t0} + ((CASE WHEN n <= {deliveries} THEN n ELSE"
            f" (n - {deliveries}) * 5 END + 1) / 2) * {event_step} AS u",
        ),
    ]  # fmt: skip


def say(line: str) -> None:
    """Print a line of the report, with the minutes and seconds since the benchmark started."""
    elapsed = int(time.monotonic() - STARTED)
    print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {line}", flush=True)


def finish(cursor) -> None:
    """Read a statement's rows, if any: a SQLite statement left unread keeps its lock."""
    if cursor.description:
        cursor.fetchall()


def fill(sql, t0: int, rows: int, bulk: bool) -> dict:
    """Fill every table, each by one INSERT ... SELECT; with `bulk`, without the indexes that back no constraint,
    built again after. Return rows and seconds by table, and the seconds the indexes took."""
    for setting in sql.fill_settings:
        finish(db.execute_sql(setting))
    tables = ", ".join(f"'{table}'" for table in TABLES)
    indexes = db.execute_sql(sql.indexes.format(tables)).fetchall() if bulk else []
    for name, _ in indexes:
        db.execute_sql(f'DROP INDEX "{name}"')
    filled = {}
    for table, count, statement in fill_statements(sql, t0, rows):
        started = time.perf_counter()
        with db.atomic():
            db.cursor().execute(statement)  # no parameters: the driver leaves the SQL's % alone
        filled[table] = {"rows": count, "seconds": round(time.perf_counter() - started, 1)}
        say(f"   filled {count:>12,} {table:<17} in {filled[table]['seconds']:7.1f} s")
    started = time.perf_counter()
    for _, statement in indexes:
        db.execute_sql(statement)
    if indexes:
        say(f"   built {len(indexes)} indexes in {time.perf_counter() - started:.0f} s")
    if sql.key == "postgres":  # ids given explicitly: move the sequences past them
        for table in ("lead", "identity", "delivery_attempt"):
            db.execute_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM \"{table}\"))")
    for setting in sql.after_fill:
        finish(db.execute_sql(setting))
    return {"tables": filled, "index_seconds": time.perf_counter() - started}


def sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1]


def file_bytes(path: str) -> int:
    """The SQLite file and its write-ahead log."""
    return sum(os.path.getsize(name) for name in (path, path + "-wal") if os.path.exists(name))


def table_bytes(sql, url: str) -> dict[str, dict[str, int]]:
    """Return each table's bytes: its rows, its indexes, both (SQLite: dbstat, reading every page)."""
    if sql.key == "sqlite":
        owner = dict(db.execute_sql("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        sizes = {table: {"table": 0, "indexes": 0} for table in TABLES}
        # Page by page and summed here: dbstat's aggregate mode overflows 32 bits past 2 GiB on SQLite 3.40.
        for name, size in db.execute_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall():
            table = owner.get(name, name.removeprefix("sqlite_autoindex_").rsplit("_", 1)[0])
            if table in sizes:
                sizes[table]["table" if name == table else "indexes"] += size
    else:
        with raw_postgres(url) as cursor:
            sizes = {}
            for table in TABLES:
                cursor.execute("SELECT pg_table_size(%s), pg_indexes_size(%s)", (table, table))
                heap, indexes = cursor.fetchone()
                sizes[table] = {"table": heap, "indexes": indexes}
    for size in sizes.values():
        size["total"] = size["table"] + size["indexes"]
    return sizes


class raw_postgres:
    """An autocommit psycopg2 cursor of its own (VACUUM cannot run in a transaction)."""

    def __init__(self, url: str):
        self.connection = psycopg2.connect(url)
        self.connection.autocommit = True

    def __enter__(self):
        return self.connection.cursor()

    def __exit__(self, *_):
        self.connection.close()


def database_bytes(sql, url: str) -> int:
    if sql.key == "sqlite":
        return file_bytes(sqlite_path(url))
    with raw_postgres(url) as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return cursor.fetchone()[0]


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


def write_steadily(target, what: str, owner_half: int, stop, ready, results) -> None:
    """Every WRITE_EVERY seconds, insert a signal (`insert`) or change an expired one of the organization being
    purged (`update`), in a transaction of its own; put (start time, seconds taken, error) of each write on
    `results` when told to stop."""
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
                expired = rng.randrange(ROWS // 2 // (2 * BLOCK)) * 2 * BLOCK + owner_half * BLOCK
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

    def __init__(self, target: tuple[str, str], owner_half: int):
        context = multiprocessing.get_context("spawn")
        self.stop, self.results = context.Event(), context.Queue()
        self.readies = [context.Event(), context.Event()]
        self.processes = [
            context.Process(target=write_steadily, args=(target, what, owner_half, self.stop, ready, self.results))
            for what, ready in zip(("insert", "update"), self.readies, strict=True)
        ]

    def __enter__(self):
        for process in self.processes:
            process.start()
        for ready in self.readies:
            ready.wait(60)
        time.sleep(QUIET_SECONDS)
        return self

    def finish(self, start: float, end: float, pauses: list[tuple[float, float]]) -> dict:
        """Stop; return latency figures of writes started before `start` (quiet) and between start and end,
        leaving out those that overlapped a pause (a checkpoint the benchmark made, not the purge)."""
        self.stop.set()
        timings = dict(self.results.get(timeout=900) for _ in self.processes)
        for process in self.processes:
            process.join()
        figures = {}
        for what, samples in timings.items():
            during = [sample for sample in samples if start <= sample[0] <= end]
            kept = [(at, took, error) for at, took, error in during if not any(
                at < pause_end and at + took > pause for pause, pause_end in pauses)]  # fmt: skip
            figures[what] = {
                "quiet": latency([sample for sample in samples if sample[0] < start]),
                "during": {**latency(kept), "left_out": len(during) - len(kept)},
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


def batched(organization: int, wal: "WalWatch | None") -> dict:
    """Run the purge; return its rows, seconds, transactions and the longest, overall and by kind.

    A transaction's time is the time between two committed batches (`observe`), which includes finding the next
    batch: an upper bound on how long it held its locks. On SQLite, when the write-ahead log passes WAL_CAP the
    benchmark checkpoints and truncates it between batches, outside the timings, so the disk does not fill.
    """
    batches, pauses, last = [], [], {"at": 0.0, "kind": None, "paused": 0.0}

    def observe(kind: str, rows: int) -> None:
        moment = time.perf_counter()
        if kind == "delivery_attempt" and last["kind"] == "delivery":  # one transaction, counted twice
            batches[-1][1] += moment - last["at"]
        else:
            batches.append([GROUPS[kind], moment - last["at"]])
        last.update(kind=kind, at=moment)
        if wal is not None and wal.bytes() > WAL_CAP and not db.in_transaction():
            pause = time.time()
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            pauses.append((pause, time.time()))
            paused = time.perf_counter() - moment
            last.update(paused=last["paused"] + paused, at=moment + paused)

    config = Config.from_env({}, database_url="sqlite://")
    last["at"] = started = time.perf_counter()
    purged = purging.purge(now=NOW, organization_id=organization, config=config, observe=observe)
    seconds = time.perf_counter() - started - last["paused"]
    kinds = {}
    for group in dict.fromkeys(GROUPS.values()):
        took = [gap for name, gap in batches if name == group]
        rows = sum(purged[kind] for kind, name in GROUPS.items() if name == group)
        kinds[group] = {"rows": rows, "seconds": sum(took), "batches": len(took), "longest": max(took, default=0)}
    longest = max(gap for _, gap in batches)
    return {"rows": sum(purged.values()), "seconds": seconds, "batches": len(batches), "purged": purged,
            "longest": longest, "kinds": kinds, "pauses": pauses}  # fmt: skip


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


def close_database(database) -> None:
    if isinstance(database, PostgresqlDatabase):
        database.close_all()
    else:
        database.close()


def measure(sql, url: str, organization: int, action, vacuum: bool) -> dict:
    """Bind the database at `url` and time `action(wal)` with the writers beside it (and SQLite's log watched);
    then give the space back, as the service does."""
    database = bind_database(url)
    target = ("sqlite", sqlite_path(url)) if sql.key == "sqlite" else ("postgres", url)
    wal = WalWatch(sqlite_path(url)) if sql.key == "sqlite" else None
    with Writers(target, organization - BATCHED) as writers, wal or contextlib.nullcontext():
        start = time.time()
        with database.connection_context():
            result = action(wal)
        result["writers"] = writers.finish(start, time.time(), result.get("pauses", []))
    result["wal_peak_bytes"] = wal.peak if wal else None
    with database.connection_context():
        result["space"] = give_space_back(sql, url, vacuum)
    close_database(database)
    return result


def payload_bytes(sql) -> float:
    """The average stored size of a signal payload (a sample of 100,000)."""
    size = "length(CAST(payload AS BLOB))" if sql.key == "sqlite" else "pg_column_size(payload)"
    sample = f"SELECT {size} AS size FROM signal WHERE payload IS NOT NULL LIMIT 100000"
    return float(db.execute_sql(f"SELECT avg(size) FROM ({sample}) sample").fetchone()[0])


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
    baseline = measure(sql, url, UNBATCHED, lambda wal: unbatched(UNBATCHED, NOW - RETENTION, NOW), vacuum=False)
    report("baseline, unbatched (organization b)", baseline)
    purge = measure(sql, url, BATCHED, lambda wal: batched(BATCHED, wal), vacuum=True)
    report("purge, in batches (organization a)", purge)
    result = {"filled": filled, "grown": sample, "purge": purge, "baseline": baseline}
    result["signal_row_bytes"] = signal_row_bytes(result)
    return result


def per_row(filled: dict) -> dict[str, dict[str, float]]:
    """Bytes per row of each table: its rows, its indexes."""
    return {
        table: {part: size[part] / filled["tables"][table]["rows"] for part in ("table", "indexes")}
        for table, size in filled["sizes"].items()
    }


def signal_row_bytes(result: dict) -> dict:
    """A signal row's bytes: its table part with its payload and without (less the average payload as stored:
    measured on SQLite after a purge, this was within a byte), its indexes built at once and grown row by row."""
    built, grown_rows = per_row(result["filled"])["signal"], per_row(result["grown"])["signal"]
    payload = result["filled"]["payload_bytes"]
    return {"table_with_payload": built["table"], "table_without_payload": built["table"] - payload,
            "indexes_built": built["indexes"], "indexes_grown": grown_rows["indexes"], "payload": payload}  # fmt: skip


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
            left = f", left out: {f['left_out']}" if f.get("left_out") else ""
            if f["writes"]:
                print(f"      writer {what:<6} {when:<6} {f['writes']:>6,} writes  p50 {f['p50_ms']:8.1f} ms"
                      f"  p99 {f['p99_ms']:9.1f} ms  max {f['max_ms']:9.1f} ms  over 5 s: {f['over_5s']},"
                      f" failed: {f['errors']}{left}")  # fmt: skip
    freed = result["space"]
    print(f"      database: {freed['bytes_after_purge'] / 1e9:.2f} GB after; {freed['bytes_after_release'] / 1e9:.2f}"
          f" GB after {freed['done']} ({freed['seconds']:.0f} s)", flush=True)  # fmt: skip
    if result["wal_peak_bytes"] is not None:
        print(f"      write-ahead log: {result['wal_peak_bytes'] / 1e9:.2f} GB at its largest; checkpointed by the"
              f" benchmark past {WAL_CAP / 1e9:.0f} GB: {len(result.get('pauses', []))} times")  # fmt: skip
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
