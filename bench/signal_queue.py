"""Signal queue benchmark: `make bench-queue`.

Fills one organization with BENCH_QUEUE_SIGNALS signals (default 1,000,000) in 200 source/event
groups of skewed sizes, a tenth of them mapped, on SQLite and on Postgres (when BENCH_POSTGRES_URL
answers). Then it times, in the same run:
  baseline: SELECT COUNT(*) of the organization's unmapped signals, the least work any grouping
            has to do (read every unmapped row's index entry once);
  queue:    GET /v1/signal-queue through the Flask app (grouping, ordering, one sample and one
            suggested rule per group, JSON);
and prints the median of 5 runs of each, their ratio, and the query plan of the grouping.
"""

import os
import random
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


from app import create_app
from bench.backends import databases, redis_url
from hookyard.core.clock import utcnow
from hookyard.core.config import Config
from hookyard.core.credentials import (
    generate_key,
)
from hookyard.core.db import (
    insert_rows,
    migrate,
)
from hookyard.keys.management import create_management_key
from models import Organization, Signal

TOTAL = int(os.environ.get("BENCH_QUEUE_SIGNALS", "1000000"))
GROUPS = 200
RUNS = 5


def fill(organization_id: int) -> None:
    weights = [1 / (rank + 1) for rank in range(GROUPS)]
    groups = random.Random(7).choices(range(GROUPS), weights=weights, k=TOTAL)
    now = utcnow()
    started = time.perf_counter()
    for start in range(0, TOTAL, 10_000):
        rows = []
        for number in range(start, min(start + 10_000, TOTAL)):
            group = groups[number]
            event = f"Event {group % 40}"
            rows.append(
                {
                    "id": number + 1,
                    "organization": organization_id,
                    "source": f"source-{group // 40}",
                    "event": event,
                    "email": f"user{number % 5000}@example.com",
                    "cold_storage": False,
                    "status": "mapped" if number % 10 == 0 else "processed",
                    "dedupe_key": f"sha256:{number}",
                    "payload": {
                        "event": event,
                        "traits": {"email": f"user{number % 5000}@example.com", "name": "Ann"},
                        "properties": {"n": number},
                    },
                    "received_at": now,
                    "processed_at": now,
                }
            )
        insert_rows(Signal, rows)
    print(f"   filled {TOTAL:,} signals in {time.perf_counter() - started:.0f} s")


def median_seconds(action) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def run(label: str, database_url: str, redis_url: str) -> float:
    print(f"== {label}")
    app = create_app(Config.from_env({}, database_url=database_url, redis_url=redis_url, encryption_key=generate_key()))
    database = app.database
    migrate(database)
    with database.connection_context():
        organization = Organization.create(name="bench")
        key = create_management_key(organization, "bench")
        with database.atomic():
            fill(organization.id)
        database.execute_sql("ANALYZE")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}

    def queue():
        response = client.get("/v1/signal-queue", headers=headers)
        assert response.status_code == 200, response.data
        return response.get_json()

    def baseline():
        with database.connection_context():
            database.execute_sql(
                "SELECT COUNT(*) FROM signal WHERE organization_id = %s AND status = 'processed'".replace(
                    "%s", str(organization.id)
                )
            ).fetchone()

    groups = queue()["groups"]
    assert len(groups) == min(GROUPS, 50) and sum(g["count"] for g in groups) > 0
    base, grouped = median_seconds(baseline), median_seconds(queue)
    with database.connection_context():
        explain = "EXPLAIN QUERY PLAN " if database_url.startswith("sqlite") else "EXPLAIN "
        plan = database.execute_sql(
            explain + "SELECT source, event, COUNT(*), MIN(received_at), MAX(received_at) FROM signal "
            f"WHERE organization_id = {organization.id} AND status = 'processed' GROUP BY source, event"
        ).fetchall()
    print("   plan:", " | ".join(str(row[-1]) for row in plan))
    print(
        f"   baseline count {base * 1000:.0f} ms, GET /v1/signal-queue {grouped * 1000:.0f} ms "
        f"-> ratio {grouped / base:.2f}"
    )
    return grouped / base


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as scratch, redis_url(scratch) as redis:
        for key, label, database_url in databases(scratch, "queue"):
            results[key] = run(label, database_url, redis)
    print(
        "== summary (GET /v1/signal-queue time / COUNT of the same rows):",
        ", ".join(f"{name} {ratio:.2f}" for name, ratio in results.items()),
    )


if __name__ == "__main__":
    main()
