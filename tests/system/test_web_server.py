"""The web process as deployed: the Procfile's command (gunicorn's gevent worker) on the test database and Redis.

Other tests call the Flask app in-process, where nothing is patched and each call makes its own round trip.
These send real HTTP requests, many at once, to the real server, so the path that production takes is the one
tested: concurrent requests share Redis round trips, and a request that waits holds up no other.
"""

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import http_json


def batch_samples(base: str, script: str) -> dict:
    """Return the group-commit histogram's `_count` (round trips) and `_sum` (calls) for a script."""
    with urllib.request.urlopen(f"{base}/metrics") as response:
        text = response.read().decode()
    return {
        line.split("{")[0].rsplit("_", 1)[1]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(("hookyard_redis_batch_calls_count", "hookyard_redis_batch_calls_sum"))
        and f'script="{script}"' in line
    }


@pytest.mark.slow
def test_signals_sent_at_once_to_the_server_are_each_accepted_and_stored_once(
    client, org, make_api_key, run_jobs, web_server
):
    key = make_api_key()["key"]
    url = f"{web_server}/api/signal-staging/webhook/{key}"
    signals = [{"email": f"user{n % 7}@example.com", "event": "Signup", "properties": {"n": n}} for n in range(400)]
    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(lambda signal: http_json(url, signal), signals))

    assert {status for status, _ in answers} == {202}
    ids = [body["id"] for _, body in answers]
    assert len(set(ids)) == 400
    assert all(body["message"] == "Signal received and queued for processing" for _, body in answers)
    # Bad input still gets its own answer from the server.
    assert http_json(url, ["not", "an", "object"])[0] == 400

    run_jobs()
    stored = client.get("/v1/signals?limit=500", headers=org["headers"]).get_json()
    assert sorted(signal["id"] for signal in stored["signals"]) == sorted(ids)
    assert client.get("/v1/usage", headers=org["headers"]).get_json()["raw_signals"] == 400

    # The requests really shared round trips: fewer Redis round trips than accept calls.
    samples = batch_samples(web_server, "signal_accept")
    assert samples["sum"] >= 400, samples
    assert samples["count"] < samples["sum"], samples


@pytest.mark.slow
def test_flow_events_sent_at_once_are_deduped_rate_limited_and_logged_once(
    app, client, org, make_api_key, run_jobs, web_server
):
    flow_key = make_api_key(endpoint_type="flow")["key"]
    flow = client.post(
        "/v1/flows", json={"name": "CI", "rate_limit_per_second": 10_000}, headers=org["headers"]
    ).get_json()
    url = f"{web_server}/webhooks/{flow['webhook_id']}"
    # 300 requests carrying 200 Idempotency-Keys: a key's copies race each other, often in one round trip.
    sends = [(n, {"X-API-Key": flow_key, "Idempotency-Key": f"k-{n % 200}"}) for n in range(300)]
    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(lambda send: http_json(url, {"event": "tick", "n": send[0]}, send[1]), sends))
    assert {status for status, _ in answers} == {200}
    statuses = [body["status"] for _, body in answers]
    assert statuses.count("queued") == 200
    assert statuses.count("duplicate") == 100
    run_jobs()
    logged = client.get(f"/v1/flows/{flow['id']}/events?limit=500", headers=org["headers"]).get_json()["events"]
    assert len(logged) == 300
    assert sum(event["duplicate"] for event in logged) == 100
    samples = batch_samples(web_server, "flow_accept")
    assert samples["sum"] == 300, samples
    assert samples["count"] < 300, samples

    limited = client.post(
        "/v1/flows", json={"name": "slow", "rate_limit_per_second": 5}, headers=org["headers"]
    ).get_json()
    started = time.time()
    with ThreadPoolExecutor(40) as pool:
        answers = list(
            pool.map(
                lambda n: http_json(
                    f"{web_server}/webhooks/{limited['webhook_id']}", {"event": "tick", "n": n}, {"X-API-Key": flow_key}
                ),
                range(40),
            )
        )
    seconds = int(time.time()) - int(started) + 1
    accepted = sum(status == 200 for status, _ in answers)
    assert 1 <= accepted <= 5 * seconds
    assert {status for status, _ in answers} == {200, 429}


def wait_until_the_insert_waits(database_url: str) -> None:
    """Return once the web process's INSERT is waiting for the lock (Postgres shows it; SQLite cannot)."""
    if database_url.startswith("sqlite"):
        time.sleep(0.5)  # a request on 127.0.0.1 reaches its INSERT in milliseconds
        return
    import psycopg2

    observer = psycopg2.connect(database_url)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with observer.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if cursor.fetchone()[0]:
                    return
            observer.rollback()
            time.sleep(0.05)
        raise AssertionError("the INSERT never waited for the lock")
    finally:
        observer.close()


@pytest.mark.slow
def test_a_request_waiting_for_a_database_lock_holds_up_no_other_request(client, org, make_api_key, config, web_server):
    key = make_api_key()["key"]
    url = f"{web_server}/api/signal-staging/webhook/{key}"
    assert http_json(url, {"email": "ann@x.io"})[0] == 202  # reserves this process's block of signal ids

    # Another process holds the database's write lock (as the worker does while it stores a chunk).
    if config.database_url.startswith("sqlite"):
        import sqlite3

        holder = sqlite3.connect(config.database_url.split(":///", 1)[1], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        import psycopg2

        holder = psycopg2.connect(config.database_url)
        holder.cursor().execute("LOCK TABLE api_key IN EXCLUSIVE MODE")
    try:
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(
                http_json, f"{web_server}/v1/api-keys", {"name": "late", "endpoint_type": "flow"}, org["headers"]
            )
            wait_until_the_insert_waits(config.database_url)
            took = []
            for n in range(3):
                started = time.monotonic()
                assert http_json(url, {"email": "ann@x.io", "n": n})[0] == 202
                took.append(time.monotonic() - started)
            assert not waiting.done()
            assert max(took) < 1.0, took  # answered while the other request still waits
            holder.rollback()  # releases the lock
            status, body = waiting.result(timeout=10)
        assert status == 201
        assert body["name"] == "late"
    finally:
        holder.close()


@pytest.mark.slow
def test_a_large_import_does_not_hold_up_the_processs_other_requests(client, org, make_api_key, web_server):
    key = make_api_key()["key"]
    url = f"{web_server}/api/signal-staging/webhook/{key}"
    assert http_json(url, {"email": "ann@x.io"})[0] == 202
    body = "\n".join(json.dumps({"email": f"u{n % 100}@x.io", "event": "Imported", "n": n}) for n in range(50_000))

    def bulk():
        request = urllib.request.Request(
            f"{web_server}/api/signal-staging/bulk/{key}",
            data=body.encode(),
            headers={"Content-Type": "application/x-ndjson"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, time.monotonic()

    with ThreadPoolExecutor(1) as pool:
        importing = pool.submit(bulk)
        time.sleep(0.3)  # the import is being validated (about a second of CPU) in the one web process
        took = []
        while not importing.done():
            started = time.monotonic()
            assert http_json(url, {"email": "bob@x.io"})[0] == 202
            took.append(time.monotonic() - started)
        status, _ = importing.result()
    assert status == 202
    assert len(took) >= 3, took  # single signals were answered while the import was still in hand
    assert max(took) < 0.5, took
