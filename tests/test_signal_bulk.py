"""Bulk imports, reading back with filters, concurrent duplicates, and a worker killed mid-import."""

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest

from models import Signal

BULK = "/api/signal-staging/bulk"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def import_status(client, org, import_id):
    return client.get(f"/v1/imports/{import_id}", headers=org["headers"]).get_json()


def test_bulk_json_import_reports_progress_and_stores_every_signal(client, org, signal_key, run_jobs):
    signals = [{"email": f"user{n % 40}@x.io", "event": "Imported", "n": n} for n in range(2500)]
    signals[7] = "bad"
    signals[9] = {"email": "broken"}
    response = client.post(f"{BULK}/{signal_key}", json={"signals": signals})
    assert response.status_code == 202
    body = response.get_json()
    assert (body["accepted"], body["rejected"]) == (2498, 2)
    assert [row["index"] for row in body["signals"]] == [7, 9]
    assert import_status(client, org, body["import_id"])["status"] == "queued"
    run_jobs()
    status = import_status(client, org, body["import_id"])
    assert {k: status[k] for k in ("status", "total", "processed", "duplicates", "failed")} == {
        "status": "done", "total": 2498, "processed": 2498, "duplicates": 0, "failed": 2}
    assert Signal.select().count() == 2498
    lead = client.get("/v1/leads?email=user3@x.io", headers=org["headers"]).get_json()["leads"][0]
    assert lead["signal_count"] == 63  # n % 40 == 3 for 63 values of n below 2500
    assert client.get("/v1/usage", headers=org["headers"]).get_json()["raw_signals"] == 2498


def test_bulk_ndjson_import_reports_unparseable_lines_by_index(client, org, signal_key, run_jobs):
    lines = [orjson.dumps({"event": "line", "n": n}) for n in range(10)]
    lines[4] = b"{not json"
    response = client.post(f"{BULK}/{signal_key}", data=b"\n".join(lines) + b"\n",
                           content_type="application/x-ndjson")
    body = response.get_json()
    assert response.status_code == 202 and (body["accepted"], body["rejected"]) == (9, 1)
    assert body["signals"][0]["index"] == 4 and body["signals"][0]["error"]["error"] == "invalid_json"
    run_jobs()
    assert import_status(client, org, body["import_id"])["processed"] == 9


def test_bulk_duplicates_are_counted_in_the_import(client, org, signal_key, run_jobs):
    body = client.post(f"{BULK}/{signal_key}", json={"signals": [{"event": "same"}] * 3 + [{"event": "x"}]}).get_json()
    run_jobs()
    assert import_status(client, org, body["import_id"])["duplicates"] == 2


def test_bulk_over_100000_signals_is_a_413(client, signal_key):
    data = b"\n".join([b'{"e":1}'] * 100_001)
    response = client.post(f"{BULK}/{signal_key}", data=data, content_type="application/x-ndjson")
    assert response.status_code == 413


def test_another_organizations_import_is_not_found(client, org, other_org, signal_key):
    body = client.post(f"{BULK}/{signal_key}", json={"signals": [{"event": "x"}]}).get_json()
    assert client.get(f"/v1/imports/{body['import_id']}", headers=other_org["headers"]).status_code == 404


def test_signals_can_be_filtered_and_paged(client, org, signal_key, run_jobs):
    webhook = f"/api/signal-staging/webhook/{signal_key}"
    client.post(webhook + "/batch", json=[{"email": "a@x.io", "event": "Demo Requested"},
                                          {"email": "b@x.io", "event": "Trial Started"},
                                          {"anonymousId": "anon-9", "event": "Pricing Page Viewed"}])
    client.post(f"/api/signal-staging/webhook/forms/{signal_key}", json={"email": "a@x.io", "event": "Form"})
    run_jobs()
    h = org["headers"]

    def ids(query):
        return [s["event"] for s in client.get(f"/v1/signals?{query}", headers=h).get_json()["signals"]]

    assert ids("source=forms") == ["Form"]
    assert ids("event=Trial%20Started") == ["Trial Started"]
    assert sorted(ids("email=A@x.io")) == ["Demo Requested", "Form"]
    assert ids("anonymous_id=anon-9") == ["Pricing Page Viewed"]
    assert ids("cold_storage=true") == ["Pricing Page Viewed"]
    assert ids("status=duplicate") == []
    lead_id = client.get("/v1/leads?email=a@x.io", headers=h).get_json()["leads"][0]["id"]
    assert sorted(ids(f"lead_id={lead_id}")) == ["Demo Requested", "Form"]
    lead_signals = client.get(f"/v1/leads/{lead_id}/signals?limit=1", headers=h).get_json()
    assert len(lead_signals["signals"]) == 1 and lead_signals["next_cursor"]
    page = client.get("/v1/signals?limit=3", headers=h).get_json()
    rest = client.get(f"/v1/signals?limit=3&cursor={page['next_cursor']}", headers=h).get_json()
    assert len(page["signals"]) == 3 and len(rest["signals"]) == 1 and rest["next_cursor"] is None
    assert client.get("/v1/signals?status=bogus", headers=h).status_code == 400


def test_another_organization_sees_none_of_it(client, org, other_org, signal_key, run_jobs):
    signal_id = client.post(f"/api/signal-staging/webhook/{signal_key}", json={"email": "z@x.io"}).get_json()["id"]
    run_jobs()
    lead_id = client.get(f"/v1/signals/{signal_id}", headers=org["headers"]).get_json()["lead_id"]
    h = other_org["headers"]
    assert client.get(f"/v1/signals/{signal_id}", headers=h).status_code == 404
    assert client.get(f"/v1/leads/{lead_id}", headers=h).status_code == 404
    assert client.get(f"/v1/leads/{lead_id}/signals", headers=h).status_code == 404
    assert client.get("/v1/signals", headers=h).get_json()["signals"] == []


def test_concurrent_copies_in_separate_transactions_make_one_signal(org, store_together):
    """Two workers storing the same content at the same moment: the unique index lets one win."""
    store_together([orjson.dumps({"id": 9_000_000 + n, "org": org["id"], "src": "generic", "at": 1_700_000_000_000,
                                  "p": {"event": "race", "email": "race@x.io"}}) for n in range(8)])
    rows = list(Signal.select().where(Signal.id >= 9_000_000).order_by(Signal.id))
    originals = [row for row in rows if row.duplicate_of is None]
    assert len(rows) == 8 and len(originals) == 1
    assert {row.duplicate_of for row in rows if row is not originals[0]} == {originals[0].id}


def test_a_lead_created_by_two_workers_at_once_is_announced_once(client, org, receiver, store_together):
    """Different signals naming the same new email, stored at the same moment: one lead, one lead.created."""
    from models import Event, Lead

    client.post("/v1/webhooks", json={"url": receiver.url(), "events": ["lead.created"]}, headers=org["headers"])
    store_together([orjson.dumps({"id": 9_100_000 + n, "org": org["id"], "src": "generic", "at": 1_700_000_000_000,
                                  "p": {"event": f"race {n}", "email": "Same@x.io"}}) for n in range(6)])
    assert Lead.select().where(Lead.email == "same@x.io").count() == 1
    assert Event.select().where(Event.type == "lead.created").count() == 1


@pytest.mark.slow
def test_a_worker_killed_mid_import_is_finished_by_a_fresh_one_exactly_once(app, config, client, org, signal_key,
                                                                            tmp_path):
    env = dict(os.environ, DATABASE_URL=config.database_url, REDIS_URL=config.redis_url,
               WORKER_HEARTBEAT_TTL="4", WORKER_MAINTENANCE_INTERVAL="3")

    def start_worker(name):
        log = open(tmp_path / f"{name}.log", "w")
        # A session of its own: SIGKILL goes to the whole group, as when the worker's machine dies, so
        # the scheduler process RQ forks dies with it instead of living on as an orphan.
        return subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=log, stderr=log,
                                start_new_session=True)

    total = 30_000
    signals = [{"email": f"bulk{n % 500}@x.io", "event": "Imported", "n": n} for n in range(total)]
    import_id = client.post(f"{BULK}/{signal_key}", json={"signals": signals}).get_json()["import_id"]
    first = start_worker("first")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            processed = import_status(client, org, import_id)["processed"]
            if processed >= 3000:
                break
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed_at = import_status(client, org, import_id)
        assert 0 < killed_at["processed"] < total, killed_at
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    second = start_worker("second")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and import_status(client, org, import_id)["status"] != "done":
            time.sleep(0.2)
        status = import_status(client, org, import_id)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    logs = "".join((tmp_path / f"{name}.log").read_text()[-3000:] for name in ("first", "second"))
    assert status["status"] == "done", logs
    assert status["processed"] == total and status["duplicates"] == 0
    assert Signal.select().count() == total
    assert Signal.select(Signal.dedupe_key).distinct().count() == total


def test_the_sweep_gives_back_a_gone_jobs_claim_and_restarts_a_stalled_import(app, client, org, signal_key,
                                                                                run_jobs, redis):
    from hookyard.core.queues import make_queues
    from hookyard.signals.buffer import SignalKeys
    from worker import sweep_ingest

    keys, ingest = SignalKeys("hy"), make_queues(redis)["ingest"]
    client.post(f"/api/signal-staging/webhook/{signal_key}", json={"email": "ann@x.io", "event": "Signup"})
    imported = client.post(f"{BULK}/{signal_key}", json={"signals": [{"email": "bob@x.io", "n": n}
                                                                      for n in range(30)]}).get_json()
    # Both jobs vanished before they ran (a Redis failover, a flushed queue): the signal sits in a gone
    # drain job's claim, the import's chunks have no job.
    (item,) = redis.lrange(keys.buffer, 0, -1)
    redis.delete(keys.buffer, keys.drain_flag)
    redis.rpush(keys.processing("gone-job"), item)
    ingest.empty()
    assert ingest.count == 0

    sweep_ingest(redis, keys, ingest)
    assert redis.lrange(keys.buffer, 0, -1) == [item] and not redis.exists(keys.processing("gone-job"))
    assert sorted(job.func_name for job in ingest.jobs) == ["worker.drain_signals", "worker.import_signals"]
    run_jobs()
    assert Signal.select().count() == 31
    assert import_status(client, org, imported["import_id"])["status"] == "done"
    sweep_ingest(redis, keys, ingest)  # within SWEEP_EVERY of the last sweep: another worker's turn
    redis.delete(keys.sweep_lock)
    sweep_ingest(redis, keys, ingest)  # nothing left to recover
    assert ingest.count == 0
