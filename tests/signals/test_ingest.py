"""Signal staging ingestion through the real path: HTTP -> Redis -> worker -> database -> HTTP."""

import pytest

from tests.helpers import SIGNAL_WEBHOOK, payload, payload_bytes, post_signal


def test_the_seed_curl_example_answers_exactly(client, signal_key):
    response = client.post(
        f"{SIGNAL_WEBHOOK}/{signal_key}",
        data=b'{"email": "john@example.com", "event": "demo_requested", "properties": {"plan": "enterprise"}}',
        content_type="application/json",
    )
    assert response.status_code == 202
    body = response.get_json()
    assert isinstance(body["id"], int)
    assert body == {
        "id": body["id"],
        "message": "Signal received and queued for processing",
        "source": "generic",
        "cold_storage": False,
    }


def test_a_signal_is_stored_and_tied_to_a_lead_by_email(client, org, signal_key, run_jobs):
    signal_id = post_signal(client, signal_key, {"email": "Ann@Example.com", "event": "Trial Started"}).get_json()["id"]
    assert client.get(f"/v1/signals/{signal_id}", headers=org["headers"]).status_code == 404  # not stored yet
    run_jobs()
    signal = client.get(f"/v1/signals/{signal_id}", headers=org["headers"]).get_json()
    assert signal["status"] == "processed"
    assert signal["event"] == "Trial Started"
    assert signal["email"] == "ann@example.com"
    assert signal["cold_storage"] is False
    assert signal["payload"] == {"email": "Ann@Example.com", "event": "Trial Started"}
    assert signal["received_at"].endswith("Z")
    assert signal["processed_at"].endswith("Z")
    lead = client.get(f"/v1/leads/{signal['lead_id']}", headers=org["headers"]).get_json()
    assert lead["email"] == "ann@example.com"
    assert lead["signal_count"] == 1
    assert lead["first_seen"] == lead["last_seen"] == signal["received_at"]


def test_source_comes_from_the_url_then_x_source_overrides(client, signal_key):
    assert (
        post_signal(client, None, {"event": "x"}, f"{SIGNAL_WEBHOOK}/forms/{signal_key}").get_json()["source"]
        == "forms"
    )
    answer = post_signal(
        client, None, {"event": "y"}, f"{SIGNAL_WEBHOOK}/forms/{signal_key}", **{"X-Source": "Website"}
    )
    assert answer.get_json()["source"] == "website"


def test_segment_payloads_are_detected_unless_x_source_says_otherwise(client, signal_key):
    track = payload("segment_track.json")
    assert (
        post_signal(client, signal_key, track, f"{SIGNAL_WEBHOOK}/website/{signal_key}").get_json()["source"]
        == "segment"
    )
    other = {**track, "messageId": "other"}
    assert post_signal(client, signal_key, other, **{"X-Source": "custom"}).get_json()["source"] == "custom"


def test_a_bad_source_slug_is_a_400(client, signal_key):
    response = post_signal(client, None, {"event": "x"}, f"{SIGNAL_WEBHOOK}/Not%20Valid!/{signal_key}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_source"


@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("segment_page.json", "page_view"),
        ("segment_screen_spec.json", "screen_view"),
        ("segment_group.json", "group"),
        ("segment_alias.json", "alias"),
        ("segment_track_spec.json", "Course Clicked"),
        ("segment_delete.json", "delete"),  # kept as the record of the erasure it asked for
    ],
)
def test_real_segment_calls_are_stored_with_their_event_name(client, org, signal_key, run_jobs, name, event):
    body = payload(name)
    answer = post_signal(client, signal_key, body).get_json()
    run_jobs()
    signal = client.get(f"/v1/signals/{answer['id']}", headers=org["headers"]).get_json()
    assert signal["status"] == "processed"
    assert signal["payload"] == body
    assert signal["event"] == event
    assert signal["source"] == "segment"


def test_a_repeat_is_accepted_but_stored_as_a_duplicate(client, org, signal_key, run_jobs):
    body = {"email": "d@x.io", "event": "Demo Requested", "properties": {"a": 1, "b": 2}}
    first = post_signal(client, signal_key, body).get_json()["id"]
    reordered = {"properties": {"b": 2, "a": 1}, "event": "Demo Requested", "email": "d@x.io"}
    second = post_signal(client, signal_key, reordered)
    assert second.status_code == 202
    run_jobs()
    duplicate = client.get(f"/v1/signals/{second.get_json()['id']}", headers=org["headers"]).get_json()
    assert duplicate == {"id": second.get_json()["id"], "status": "duplicate", "duplicate_of": first}
    lead = client.get("/v1/leads?email=d@x.io", headers=org["headers"]).get_json()["leads"][0]
    assert lead["signal_count"] == 1
    assert client.get("/v1/usage", headers=org["headers"]).get_json()["raw_signals"] == 2


def test_segment_duplicates_are_found_by_message_id(client, org, signal_key, run_jobs):
    track = payload("segment_track.json")
    post_signal(client, signal_key, track)
    again = post_signal(client, signal_key, {**track, "sentAt": "2019-06-21T17:36:00.000Z"}).get_json()["id"]
    run_jobs()
    assert client.get(f"/v1/signals/{again}", headers=org["headers"]).get_json()["status"] == "duplicate"


def test_many_copies_in_one_batch_make_one_signal(client, org, signal_key, run_jobs):
    answer = client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=[{"event": "same", "email": "s@x.io"}] * 50)
    assert answer.get_json()["accepted"] == 50
    run_jobs()
    processed = client.get("/v1/signals?status=processed", headers=org["headers"]).get_json()["signals"]
    duplicates = client.get("/v1/signals?status=duplicate", headers=org["headers"]).get_json()["signals"]
    assert len(processed) == 1
    assert len(duplicates) == 49
    assert {d["duplicate_of"] for d in duplicates} == {processed[0]["id"]}


def test_batch_accepts_segment_webhooks_actions_bare_array(client, org, signal_key, run_jobs):
    response = client.post(
        f"{SIGNAL_WEBHOOK}/{signal_key}/batch",
        data=payload_bytes("segment_webhook_actions_batch.json"),
        content_type="application/json",
        headers={"User-Agent": "Segment (Actions)"},
    )
    assert response.status_code == 202
    body = response.get_json()
    assert body["accepted"] == 3
    assert body["rejected"] == 0
    assert [row["index"] for row in body["signals"]] == [0, 1, 2]
    assert all(row["source"] == "segment" for row in body["signals"])
    run_jobs()
    events = [
        client.get(f"/v1/signals/{row['id']}", headers=org["headers"]).get_json()["event"] for row in body["signals"]
    ]
    assert events == ["identify", "Registered", "page_view"]


def test_batch_reports_bad_items_by_index_and_accepts_the_rest(client, org, signal_key, run_jobs):
    items = [{"event": "ok"}, "not an object", {"email": "not-an-email"}, {"event": "also ok"}, [1]]
    response = client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json={"signals": items})
    assert response.status_code == 202
    body = response.get_json()
    assert (body["accepted"], body["rejected"]) == (2, 3)
    rows = body["signals"]
    assert [row["index"] for row in rows] == [0, 1, 2, 3, 4]
    assert rows[1]["error"]["error"] == "invalid_signal"
    assert rows[2]["error"]["errors"] == {"email": ["Not a valid email address."]}
    run_jobs()
    assert client.get(f"/v1/signals/{rows[3]['id']}", headers=org["headers"]).get_json()["event"] == "also ok"


def test_a_batch_with_nothing_acceptable_is_a_400(client, signal_key):
    response = client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=[1, 2])
    assert response.status_code == 400
    assert set(response.get_json()["errors"]) == {"0", "1"}
    assert client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=[]).status_code == 400


def test_a_batch_over_4000_signals_is_a_413(client, signal_key):
    response = client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=[{"event": "e"}] * 4001)
    assert response.status_code == 413
    assert response.get_json()["error"] == "payload_too_large"


def test_segment_http_api_batch_merges_the_shared_context(client, org, signal_key, run_jobs):
    body = payload("segment_batch.json")
    answer = client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=body).get_json()
    assert answer["accepted"] == len(body["batch"])
    run_jobs()
    stored = client.get(f"/v1/signals/{answer['signals'][0]['id']}", headers=org["headers"]).get_json()
    assert stored["payload"]["context"]["device"] == body["context"]["device"]
    assert stored["email"] == "jake@yahoo.com"


def test_python_client_batch_with_explicit_nulls_is_accepted(client, org, signal_key, run_jobs):
    body = payload("segment_batch_python_client.json")
    answer = client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=body).get_json()
    assert answer["rejected"] == 0
    assert answer["accepted"] == len(body["batch"])
    run_jobs()
    lead = client.get("/v1/leads?email=jane@example.com", headers=org["headers"]).get_json()["leads"][0]
    assert lead["signal_count"] >= 1


def test_a_long_drain_hands_the_rest_of_the_buffer_to_a_fresh_job(
    client, org, signal_key, run_jobs, monkeypatch, redis
):
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    from hookyard.core import buffer
    from hookyard.core.queues import INGEST_QUEUE
    from hookyard.signals import jobs as signal_jobs

    monkeypatch.setattr(signal_jobs, "CLAIM_SIZE", 1)
    monkeypatch.setattr(buffer, "DRAIN_BUDGET", 0)  # every drain stops after its first claim
    ids = [
        post_signal(client, signal_key, {"email": f"u{n}@example.com", "event": "Tick"}).get_json()["id"]
        for n in range(3)
    ]
    run_jobs()
    listed = client.get("/v1/signals", headers=org["headers"]).get_json()["signals"]
    assert sorted(signal["id"] for signal in listed) == sorted(ids)  # none lost
    drains = [
        job
        for job in FinishedJobRegistry(INGEST_QUEUE, connection=redis).get_job_ids()
        if Job.fetch(job, connection=redis).func_name == "hookyard.signals.jobs.drain_signals"
    ]
    assert len(drains) == 3  # one drain per claim, each handing the rest to the next
