"""Bulk imports, reading back with filters, and concurrent duplicates.

A worker killed mid-import is tested in tests/system/test_worker_process.py.
"""

import time

import orjson

from models import Signal
from tests.helpers import SIGNAL_BULK, import_status


def test_bulk_json_import_reports_progress_and_stores_every_signal(client, org, signal_key, run_jobs):
    signals = [{"email": f"user{n % 40}@x.io", "event": "Imported", "n": n} for n in range(2500)]
    signals[7] = "bad"
    signals[9] = {"email": "broken"}
    response = client.post(f"{SIGNAL_BULK}/{signal_key}", json={"signals": signals})
    assert response.status_code == 202
    body = response.get_json()
    assert (body["accepted"], body["rejected"]) == (2498, 2)
    assert [row["index"] for row in body["signals"]] == [7, 9]
    assert import_status(client, org, body["import_id"])["status"] == "queued"
    run_jobs()
    status = import_status(client, org, body["import_id"])
    assert {k: status[k] for k in ("status", "total", "processed", "duplicates", "failed")} == {
        "status": "done",
        "total": 2498,
        "processed": 2498,
        "duplicates": 0,
        "failed": 2,
    }
    assert Signal.select().count() == 2498
    lead = client.get("/v1/leads?email=user3@x.io", headers=org["headers"]).get_json()["leads"][0]
    assert lead["signal_count"] == 63  # n % 40 == 3 for 63 values of n below 2500
    assert client.get("/v1/usage", headers=org["headers"]).get_json()["raw_signals"] == 2498


def test_bulk_ndjson_import_reports_unparseable_lines_by_index(client, org, signal_key, run_jobs):
    lines = [orjson.dumps({"event": "line", "n": n}) for n in range(10)]
    lines[4] = b"{not json"
    response = client.post(
        f"{SIGNAL_BULK}/{signal_key}", data=b"\n".join(lines) + b"\n", content_type="application/x-ndjson"
    )
    body = response.get_json()
    assert response.status_code == 202
    assert (body["accepted"], body["rejected"]) == (9, 1)
    assert body["signals"][0]["index"] == 4
    assert body["signals"][0]["error"]["error"] == "invalid_json"
    run_jobs()
    assert import_status(client, org, body["import_id"])["processed"] == 9


def test_bulk_duplicates_are_counted_in_the_import(client, org, signal_key, run_jobs):
    body = client.post(
        f"{SIGNAL_BULK}/{signal_key}", json={"signals": [{"event": "same"}] * 3 + [{"event": "x"}]}
    ).get_json()
    run_jobs()
    assert import_status(client, org, body["import_id"])["duplicates"] == 2


def test_bulk_over_100000_signals_is_a_413(client, signal_key):
    data = b"\n".join([b'{"e":1}'] * 100_001)
    response = client.post(f"{SIGNAL_BULK}/{signal_key}", data=data, content_type="application/x-ndjson")
    assert response.status_code == 413


def test_another_organizations_import_is_not_found(client, org, other_org, signal_key):
    body = client.post(f"{SIGNAL_BULK}/{signal_key}", json={"signals": [{"event": "x"}]}).get_json()
    assert client.get(f"/v1/imports/{body['import_id']}", headers=other_org["headers"]).status_code == 404


def test_signals_can_be_filtered_and_paged(client, org, signal_key, run_jobs):
    webhook = f"/api/signal-staging/webhook/{signal_key}"
    client.post(
        webhook + "/batch",
        json=[
            {"email": "a@x.io", "event": "Demo Requested"},
            {"email": "b@x.io", "event": "Trial Started"},
            {"anonymousId": "anon-9", "event": "Pricing Page Viewed"},
        ],
    )
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
    assert len(lead_signals["signals"]) == 1
    assert lead_signals["next_cursor"]
    page = client.get("/v1/signals?limit=3", headers=h).get_json()
    rest = client.get(f"/v1/signals?limit=3&cursor={page['next_cursor']}", headers=h).get_json()
    assert len(page["signals"]) == 3
    assert len(rest["signals"]) == 1
    assert rest["next_cursor"] is None
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
    store_together(
        [
            orjson.dumps(
                {
                    "id": 9_000_000 + n,
                    "org": org["id"],
                    "src": "generic",
                    "at": 1_700_000_000_000,
                    "p": {"event": "race", "email": "race@x.io"},
                }
            )
            for n in range(8)
        ]
    )
    rows = list(Signal.select().where(Signal.id >= 9_000_000).order_by(Signal.id))
    originals = [row for row in rows if row.duplicate_of is None]
    assert len(rows) == 8
    assert len(originals) == 1
    assert {row.duplicate_of for row in rows if row is not originals[0]} == {originals[0].id}


def test_a_lead_created_by_two_workers_at_once_is_announced_once(client, org, receiver, store_together):
    """Different signals naming the same new email, stored at the same moment: one lead, one lead.created."""
    from models import Event, Lead

    client.post("/v1/webhooks", json={"url": receiver.url(), "events": ["lead.created"]}, headers=org["headers"])
    store_together(
        [
            orjson.dumps(
                {
                    "id": 9_100_000 + n,
                    "org": org["id"],
                    "src": "generic",
                    "at": 1_700_000_000_000,
                    "p": {"event": f"race {n}", "email": "Same@x.io"},
                }
            )
            for n in range(6)
        ]
    )
    assert Lead.select().where(Lead.email == "same@x.io").count() == 1
    assert Event.select().where(Event.type == "lead.created").count() == 1


def test_the_sweep_gives_back_a_gone_jobs_claim_and_restarts_a_stalled_import(
    app, client, org, signal_key, run_jobs, redis, job_context
):
    from hookyard.signals.jobs import sweep_signals
    from hookyard.signals.keys import SignalKeys

    keys, ingest = SignalKeys("hy"), job_context.queues["ingest"]
    client.post(f"/api/signal-staging/webhook/{signal_key}", json={"email": "ann@x.io", "event": "Signup"})
    imported = client.post(
        f"{SIGNAL_BULK}/{signal_key}", json={"signals": [{"email": "bob@x.io", "n": n} for n in range(30)]}
    ).get_json()
    # Both jobs vanished before they ran (a Redis failover, a flushed queue): the signal sits in a gone
    # drain job's claim, the import's chunks have no job.
    (item,) = redis.lrange(keys.buffer, 0, -1)
    redis.delete(keys.buffer, keys.drain_flag)
    redis.rpush(keys.processing("gone-job"), item)
    ingest.empty()
    assert ingest.count == 0

    sweep_signals(job_context)
    assert redis.lrange(keys.buffer, 0, -1) == [item]
    assert not redis.exists(keys.processing("gone-job"))
    assert sorted(job.func_name for job in ingest.jobs) == [
        "hookyard.signals.jobs.drain_signals",
        "hookyard.signals.jobs.import_signals",
    ]
    run_jobs()
    assert Signal.select().count() == 31
    assert import_status(client, org, imported["import_id"])["status"] == "done"
    sweep_signals(job_context)  # within SWEEP_EVERY of the last sweep: another worker's turn
    redis.delete(keys.sweep_lock)
    sweep_signals(job_context)  # nothing left to recover
    assert ingest.count == 0


def test_a_row_that_cannot_be_stored_is_set_aside_and_the_rest_of_the_import_stored(
    app, client, org, signal_key, run_jobs, redis
):
    from rq.job import Job

    rows = [{"email": f"u{n % 50}@x.io", "event": "Imported", "n": n} for n in range(3000)]
    answer = client.post(f"{SIGNAL_BULK}/{signal_key}", json={"signals": rows}).get_json()
    job = Job.fetch(f"import-{answer['import_id']}", connection=redis)
    # Row 1,500 breaks in the worker, as a row accepted by an earlier release, or by a bug, would.
    chunks = f"hy:imports:{answer['import_id']}:chunks"
    chunk = orjson.loads(redis.lindex(chunks, 1))
    chunk[500]["p"] = ["not", "an", "object"]
    redis.lset(chunks, 1, orjson.dumps(chunk))
    run_jobs()
    status = import_status(client, org, answer["import_id"])
    assert status["status"] == "done"
    assert status["processed"] == 2999
    assert status["failed"] == 1
    assert [failure["id"] for failure in status["errors"]] == [chunk[500]["id"]]
    assert Signal.select().count() == 2999
    assert job.get_status(refresh=True) == "finished"  # no failures, no retries
    (dead,) = redis.lrange("hy:signals:dead-letter", 0, -1)
    assert orjson.loads(orjson.loads(dead)["item"])["id"] == chunk[500]["id"]


def test_imports_are_listed_newest_first_and_paged(client, org, other_org, signal_key, run_jobs):
    ids = []
    for size in (2, 3, 4):
        body = {"signals": [{"email": f"l{size}-{n}@x.io"} for n in range(size)]}
        ids.append(client.post(f"{SIGNAL_BULK}/{signal_key}", json=body).get_json()["import_id"])
        time.sleep(0.002)  # ids order by their millisecond; two made in the same one have no order
    run_jobs()
    listed = client.get("/v1/imports", headers=org["headers"]).get_json()
    assert [row["id"] for row in listed["imports"]] == ids[::-1]
    assert [(row["status"], row["total"], row["processed"]) for row in listed["imports"]] == [
        ("done", 4, 4),
        ("done", 3, 3),
        ("done", 2, 2),
    ]
    assert "errors" not in listed["imports"][0]  # the rows set aside are in the import's own answer
    first = client.get("/v1/imports?limit=2", headers=org["headers"]).get_json()
    rest = client.get(f"/v1/imports?limit=2&cursor={first['next_cursor']}", headers=org["headers"]).get_json()
    assert [row["id"] for row in first["imports"] + rest["imports"]] == ids[::-1]
    assert rest["next_cursor"] is None
    assert client.get("/v1/imports", headers=other_org["headers"]).get_json()["imports"] == []
