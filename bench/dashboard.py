"""Dashboard benchmark: `make bench-dashboard`.

Fills one organization with 1,000,000 signals (bench/signal_queue.py's fill, BENCH_QUEUE_SIGNALS to change
it), a lead with 200 of them, and 100,000 deliveries over two webhooks, on SQLite and on Postgres (when
BENCH_POSTGRES_URL answers). Then, signed in through the test client, it times each dashboard page (the
server's time: request in, HTML out) and, as the baseline measured in the same run, the management API's
`GET /v1/signals` (a page of 50), and prints each page's median of 5 runs, its ratio to the baseline, and
whether it is within the 300 ms budget.
"""

import datetime
import os
import re
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


from app import create_app
from bench.backends import databases, redis_url
from bench.signal_queue import fill
from hookyard.core.clock import utcnow
from hookyard.core.config import Config
from hookyard.core.credentials import generate_key, new_public_id
from hookyard.core.db import insert_rows, migrate
from hookyard.dashboard import accounts
from hookyard.keys.management import create_management_key
from models import Delivery, Endpoint, Event, Lead, Organization, Signal

DELIVERIES = int(os.environ.get("BENCH_DASHBOARD_DELIVERIES", "100000"))
RUNS = 5
BUDGET_MS = 300
PASSWORD = "bench password 123"


def fill_deliveries(organization_id: int, box_key: str) -> list[str]:
    """Two webhooks and DELIVERIES deliveries between them, a tenth failed; return the webhook ids."""
    from hookyard.core.credentials import SecretBox

    box = SecretBox(box_key)
    endpoints = []
    for n in range(2):
        endpoint = Endpoint.create(
            id=new_public_id("hook_"), organization=organization_id, url=f"https://example.com/{n}",
            events=["*"], secret_encrypted=box.seal("bench-secret"),
        )  # fmt: skip
        endpoints.append(endpoint.id)
    now = utcnow()
    for start in range(0, DELIVERIES, 10_000):
        numbers = range(start, min(start + 10_000, DELIVERIES))
        insert_rows(Event, [_event_row(organization_id, n, now) for n in numbers])
        insert_rows(Delivery, [_delivery_row(organization_id, endpoints[n % 2], n, now) for n in numbers])
    return endpoints


def _event_row(organization_id: int, n: int, now) -> dict:
    return {
        "id": f"evt_bench{n:012d}",
        "organization": organization_id,
        "type": "user.created",
        "body": "{}",
        "idempotency_key": None,
        "created_at": now,
    }


def _delivery_row(organization_id: int, endpoint_id: str, n: int, now) -> dict:
    return {
        "id": f"del_bench{n:012d}",
        "organization": organization_id,
        "endpoint": endpoint_id,
        "event": f"evt_bench{n:012d}",
        "status": "failed" if n % 10 == 0 else "success",
        "attempts": 1,
        "max_attempts": 5,
        "status_code": 200,
        "error": None,
        "next_attempt_at": None,
        "lease_until": None,
        "delivered_at": now,
        "created_at": now - datetime.timedelta(seconds=n),
    }


def _lead_row(organization_id: int, n: int, now) -> dict:
    return {
        "organization": organization_id,
        "email": f"user{n}@example.com",
        "traits": {},
        "score": n % 97,
        "created_at": now,
        "updated_at": now,
    }


def sign_in(client, email: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/login").get_data(as_text=True))
    answer = client.post("/dashboard/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)})
    assert answer.status_code == 302, answer.data[:300]


def median_ms(client, path: str, headers=None) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.data[:300])
    return statistics.median(timings)


def prepare(app, key: str) -> dict:
    database = app.database
    migrate(database)
    with database.connection_context():
        organization = Organization.create(name="bench")
        management_key = create_management_key(organization, "bench")
        accounts.create_user(organization.id, "admin@example.com", "admin", PASSWORD)
        with database.atomic():
            fill(organization.id)
            lead = Lead.create(organization=organization, email="user0@example.com", traits={"name": "Ann"})
            now = utcnow()
            Lead.insert_many([_lead_row(organization.id, n, now) for n in range(1, 5000)]).execute()
            Signal.update(lead=lead).where(Signal.email == "user0@example.com").execute()
            endpoints = fill_deliveries(organization.id, key)
        database.execute_sql("ANALYZE")
        first_signal = Signal.select(Signal.id).order_by(Signal.id.desc()).limit(1).scalar()
        first_delivery = Delivery.select(Delivery.id).where(Delivery.endpoint == endpoints[0]).limit(1).scalar()
    return {"key": management_key, "lead": lead.id, "endpoint": endpoints[0], "signal": first_signal,
            "delivery": first_delivery}  # fmt: skip


def run(label: str, database_url: str, redis_url: str) -> dict:
    print(f"== {label}")
    key = generate_key()
    app = create_app(Config.from_env({}, database_url=database_url, redis_url=redis_url, encryption_key=key))
    made = prepare(app, key)
    client = app.test_client()
    sign_in(client, "admin@example.com")
    baseline = median_ms(client, "/v1/signals", {"Authorization": f"Bearer {made['key']}"})
    pages = [
        "/dashboard/",
        "/dashboard/signals",
        "/dashboard/signals?event=Event+3",
        f"/dashboard/signals/{made['signal']}",
        "/dashboard/leads",
        "/dashboard/leads?sort=score",
        "/dashboard/leads?sort=last_seen",
        f"/dashboard/leads/{made['lead']}",
        "/dashboard/imports",
        "/dashboard/flows",
        "/dashboard/outbound",
        f"/dashboard/outbound/{made['endpoint']}",
        f"/dashboard/outbound/{made['endpoint']}?status=failed",
        f"/dashboard/deliveries/{made['delivery']}",
        "/dashboard/integrations",
        "/dashboard/integrations/activities",
        "/dashboard/settings/api-keys",
        "/dashboard/settings/limits",
        "/dashboard/dead-letters",
        "/dashboard/mapping/queue",
        "/dashboard/mapping/queue/volume.svg?source=source-0&event=Event+0",
        "/dashboard/mapping/rules/new?source=source-0&event=Event+0",
        "/dashboard/mapping/rules",
    ]
    print(f"   baseline GET /v1/signals: {baseline:.1f} ms")
    results = {}
    for path in pages:
        took = median_ms(client, path)
        results[path] = took
        verdict = "ok" if took < BUDGET_MS else "OVER BUDGET"
        print(f"   {path:<60} {took:7.1f} ms  ratio {took / baseline:5.2f}  {verdict}")
    return results


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch, redis_url(scratch) as redis:
        for _key, label, database_url in databases(scratch, "dashboard"):
            run(label, database_url, redis)


if __name__ == "__main__":
    main()
