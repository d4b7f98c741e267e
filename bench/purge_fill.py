"""The purge benchmark's data: every table filled by set-based SQL in the database itself (INSERT ... SELECT over a
generated series), the same rows on SQLite and Postgres, each spelling what it needs in its own dialect.

Two organizations share the rows, taking turns every BLOCK rows (so both have every day of the 180, and each page of
a table holds one's rows): BATCHED's are purged by hookyard.ops.purge, UNBATCHED's by single statements.
"""

import time

from hookyard.core.db import db

SPAN_US = 180 * 86400 * 1_000_000  # the fill's receipt times cover the 180 days before now
BATCHED, UNBATCHED, WRITER = 1, 2, 3
BLOCK = 100
TABLES = ("signal", "flow_event", "event", "delivery", "delivery_attempt", "lead", "identity")
EVENT_NAMES = ("Page Viewed", "Signed Up", "Order Completed", "Product Added", "Trial Started", "Invite Sent")
STARTED = time.monotonic()


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


def insert(sql, table: str, count: int, columns: str, select: str, inner: str) -> tuple[str, int, str]:
    """(table, rows, statement): INSERT `count` rows of `select` over `inner`, a SELECT from a series 1..count."""
    prefix, source = sql.series(count)
    return table, count, f'{prefix}INSERT INTO "{table}" ({columns}) SELECT {select} FROM ({inner} FROM {source}) x'


def signal_payload(sql) -> str:
    """SQL for a Segment track call of about 360 bytes, different in every row."""
    return (
        f"""'{{"type":"track","event":"' || ev || '","userId":"usr_' || person || '","anonymousId":"' || anon"""
        f""" || '","messageId":"' || {hexes(sql, "n", 2)} || '","timestamp":"' || {sql.iso("u")}"""
        """ || '","properties":{"plan":"pro","revenue":' || (n % 500) || ',"currency":"USD"},"context":{"ip":"""
        """"203.0.113.' || (n % 250) || '","library":{"name":"analytics.js","version":"4.1.0"}},"traits":{"""
        """"email":"user' || person || '@example.com"}}'"""
    )


def flow_data(sql) -> str:
    """SQL for a GitHub push of about 500 bytes."""
    return (
        f"""'{{"ref":"refs/heads/main","before":"' || {hexes(sql, "n", 5)}"""
        f""" || '","after":"' || {hexes(sql, "n", 5, 5)}"""
        """ || '","repository":{"id":' || (n % 1000) || ',"full_name":"example/app","private":true,"""
        """"html_url":"https://github.com/example/app"},"pusher":{"name":"dev' || (n % 50) || '","email":"dev'"""
        """ || (n % 50) || '@example.com"},"sender":{"login":"dev' || (n % 50) || '","type":"User"},"""
        f""""head_commit":{{"id":"' || {hexes(sql, "n", 5, 10)} || '","message":"Fix the build on main","""
        f""""timestamp":"' || {sql.iso("u")} || '","author":{{"name":"Dev ' || (n % 50) || '"}}}}}}'"""
    )


def event_body(sql) -> str:
    """SQL for an outbound signal.received event."""
    return (
        f"""'{{"type":"signal.received","timestamp":"' || {sql.iso("u")} || '","data":{{"id":' || n"""
        """ || ',"source":"segment","event":"Order Completed","email":"user' || (n % 977) || '@example.com","""
        f""""anonymous_id":"' || {uuid_like(sql, "n")} || '","received_at":"' || {sql.iso("u")}"""
        """ || '","properties":{"plan":"pro","revenue":' || (n % 500) || ',"currency":"USD"},"""
        """"context":{"library":{"name":"analytics.js","version":"4.1.0"}}}}'"""
    )


def people_statements(sql, t0: int, people: int) -> list[tuple[str, int, str]]:
    """Leads, and two identities each (an anonymous id, a user id)."""
    step = SPAN_US // people
    return [
        insert(
            sql, "lead", people, "id, organization_id, email, name, company, traits, score, created_at, updated_at",
            f"n, {owner('n')}, 'user' || (n - 1) || '@example.com', 'Person ' || (n - 1), 'Example ' || (n % 1000),"
            f""" '{{"name":"Person ' || (n - 1) || '","plan":"pro"}}', n % 100, {sql.at("u")}, {sql.at("u")}""",
            f"SELECT n, {t0} + n * {step} AS u",
        ),
        insert(
            sql, "identity", people * 2, "organization_id, kind, value, lead_id, created_at",
            f"{owner('p + 1')}, CASE n % 2 WHEN 1 THEN 'anonymous_id' ELSE 'user_id' END, CASE n % 2 WHEN 1 THEN"
            f" {uuid_like(sql, 'p')} ELSE 'usr_' || p END, p + 1, {sql.at(f'{t0} + p * {step}')}",
            "SELECT n, (n + 1) / 2 - 1 AS p",
        ),
    ]  # fmt: skip


def signal_statement(sql, t0: int, rows: int, people: int) -> tuple[str, int, str]:
    """Signals, one every SPAN_US / rows, each of a lead; a tenth mapped."""
    names = " ".join(f"WHEN {i} THEN '{name}'" for i, name in enumerate(EVENT_NAMES))
    return insert(
        sql, "signal", rows,
        'id, organization_id, source, event, email, anonymous_id, user_id, lead_id, cold_storage, status, '
        'dedupe_key, mapped_signal, payload, received_at, processed_at, "timestamp"',
        f"n, {owner('n')}, 'segment', ev, 'user' || person || '@example.com', anon, 'usr_' || person,"
        f" person + 1, {sql.false}, CASE WHEN n % 10 = 0 THEN 'mapped' ELSE 'processed' END,"
        f" 'sha256:' || {hexes(sql, 'n', 8)}, CASE WHEN n % 10 = 0 THEN 'Checkout' END, {signal_payload(sql)},"
        f" {sql.at('u')}, {sql.at('u + 5000')}, {sql.at('u - 1000000')}",
        f"SELECT n, {t0} + n * {SPAN_US // rows} AS u, n % {people} AS person,"
        f" {uuid_like(sql, f'n % {people}')} AS anon, CASE n % {len(EVENT_NAMES)} {names} END AS ev",
    )  # fmt: skip


def flow_event_statement(sql, t0: int, count: int) -> tuple[str, int, str]:
    """GitHub flow events over each organization's four flows."""
    return insert(
        sql, "flow_event", count,
        "id, organization_id, flow_id, event, source, verified, duplicate, dedupe_key, status, data,"
        " outbound_event_id, received_at, received_minute, processed_at, latency_ms",
        f"'fev_' || {sql.pad('n')} || {hexes(sql, 'n', 2, 3)}, {owner('n')}, 'flow_bench_' || {letter('n')} ||"
        " (n % 4),"
        f" CASE n % 3 WHEN 0 THEN 'push' WHEN 1 THEN 'pull_request' ELSE 'issues' END, 'github', {sql.true},"
        f" {sql.false}, {uuid_like(sql, 'n')}, 'processed', {flow_data(sql)}, 'evt_' || {sql.pad('n')} ||"
        f" {hexes(sql, 'n', 2, 7)}, {sql.at('u')}, u / 60000000, {sql.at('u + 8000')}, 8",
        f"SELECT n, {t0} + n * {SPAN_US // max(count, 1)} AS u",
    )  # fmt: skip


def history_statements(sql, t0: int, events: int) -> list[tuple[str, int, str]]:
    """Outbound events, two deliveries each (one in fifty failed), one attempt each and a second for a fifth."""
    event_id = f"'evt_' || {sql.pad('e')} || {hexes(sql, 'e', 2)}"
    delivery_id = f"'del_' || {sql.pad('n')} || {hexes(sql, 'n', 2, 2)}"
    deliveries, step = events * 2, SPAN_US // max(events, 1)
    return [
        insert(
            sql, "event", events, "id, organization_id, type, body, created_at",
            f"{event_id}, {owner('e')}, 'signal.received', {event_body(sql)}, {sql.at('u')}",
            f"SELECT n, n AS e, {t0} + n * {step} AS u",
        ),
        insert(
            sql, "delivery", deliveries,
            "id, organization_id, endpoint_id, event_id, status, attempts, max_attempts, status_code, error,"
            " delivered_at, created_at",
            f"{delivery_id}, {owner('e')}, 'hook_bench_' || {letter('e')} || (n % 2), {event_id},"
            " CASE WHEN n % 50 = 0 THEN 'failed' ELSE 'success' END, CASE WHEN n % 5 = 0 THEN 2 ELSE 1 END, 5,"
            " CASE WHEN n % 50 = 0 THEN 500 ELSE 200 END, CASE WHEN n % 50 = 0 THEN 'HTTP 500' END,"
            f" CASE WHEN n % 50 <> 0 THEN {sql.at('u + 300000')} END, {sql.at('u')}",
            f"SELECT n, (n + 1) / 2 AS e, {t0} + ((n + 1) / 2) * {step} AS u",
        ),
        insert(
            sql, "delivery_attempt", deliveries + deliveries // 5,
            "delivery_id, number, started_at, duration_ms, status_code, response_body",
            f"{delivery_id}, k, {sql.at('u + k * 30000000')}, 40 + n % 100, CASE WHEN k = 1 AND n % 5 = 0 OR"
            """ n % 50 = 0 THEN 500 ELSE 200 END, CASE WHEN k = 1 AND n % 5 = 0 OR n % 50 = 0 THEN"""
            """ 'Internal Server Error' ELSE '{"ok":true}' END""",
            f"SELECT CASE WHEN n <= {deliveries} THEN n ELSE (n - {deliveries}) * 5 END AS n, CASE WHEN n <="
            f" {deliveries} THEN 1 ELSE 2 END AS k, {t0} + ((CASE WHEN n <= {deliveries} THEN n ELSE"
            f" (n - {deliveries}) * 5 END + 1) / 2) * {step} AS u",
        ),
    ]  # fmt: skip


def fill_statements(sql, t0: int, rows: int) -> list[tuple[str, int, str]]:
    """Return (table, rows, INSERT ... SELECT) for every table the benchmark fills: for `rows` signals, a hundredth
    as many leads, a tenth as many flow events and a twentieth as many outbound events."""
    people = max(rows // 100, 1)
    return [
        *people_statements(sql, t0, people),
        signal_statement(sql, t0, rows, people),
        flow_event_statement(sql, t0, rows // 10),
        *history_statements(sql, t0, rows // 20),
    ]


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
