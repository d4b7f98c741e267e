"""Mapping rules applied: to signals as the worker stores them, and to the queue by /apply."""

import json

from hookyard.mapping import api as mapping_api
from hookyard.mapping.jobs import apply_mapping_rule
from tests.helpers import DEMO_RULE, SIGNAL_WEBHOOK, api_get, create_rule, lead_by_email, segment_call, send_signal


def test_new_signals_are_mapped_as_they_are_stored_scoring_and_filling_the_lead(client, org, signal_key, run_jobs):
    rule = create_rule(client, org, **DEMO_RULE)
    demo = {
        "event": "Demo Requested",
        "properties": {"plan": "enterprise"},
        "traits": {"email": "Ann@Acme.io", "company": "Acme", "title": "CTO", "name": "Ann Lee"},
    }
    first = send_signal(client, signal_key, demo)
    second = send_signal(
        client, signal_key, {**demo, "properties": {"plan": "pro"}, "traits": {"email": "ann@acme.io", "title": "CEO"}}
    )
    free = send_signal(client, signal_key, {**demo, "properties": {"plan": "free"}})
    run_jobs()

    mapped = api_get(client, org, f"/v1/signals/{first}")
    assert mapped["status"] == "mapped"
    assert mapped["mapped_signal"] == "Demo Requested"
    assert api_get(client, org, f"/v1/signals/{second}")["mapped_signal"] == "Demo Requested"
    unmapped = api_get(client, org, f"/v1/signals/{free}")
    assert unmapped["status"] == "processed"
    assert unmapped["mapped_signal"] is None
    lead = api_get(client, org, f"/v1/leads/{mapped['lead_id']}")
    assert lead["score"] == 20
    assert lead["email"] == "ann@acme.io"
    assert (lead["name"], lead["company"], lead["title"]) == ("Ann Lee", "Acme", "CEO")  # the later signal wins
    queue = api_get(client, org, "/v1/signal-queue")["groups"]
    assert [(g["event"], g["count"]) for g in queue] == [("Demo Requested", 1)]  # only the free-plan one is left
    assert rule["id"] == api_get(client, org, "/v1/mapping-rules")["mapping_rules"][0]["id"]


def test_the_highest_priority_active_rule_wins_and_ties_go_to_the_older(client, org, signal_key, run_jobs):
    base = {"conditions": [{"field": "properties.form_name", "op": "exists"}], "field_map": {"email": "email"}}
    create_rule(client, org, name="low", signal_name="Low", score=1, priority=0, **base)
    create_rule(client, org, name="older", signal_name="Older", score=3, priority=5, **base)
    create_rule(client, org, name="newer", signal_name="Newer", score=4, priority=5, **base)
    create_rule(client, org, name="off", signal_name="Off", score=100, priority=50, active=False, **base)
    signal = send_signal(client, signal_key, {"email": "bo@x.io", "event": "Form", "properties": {"form_name": "Demo"}})
    run_jobs()
    stored = api_get(client, org, f"/v1/signals/{signal}")
    assert stored["mapped_signal"] == "Older"
    assert api_get(client, org, f"/v1/leads/{stored['lead_id']}")["score"] == 3  # one rule maps a signal, once


def test_source_and_event_narrow_a_rule(client, org, signal_key, run_jobs):
    create_rule(client, org, name="forms only", source="forms", event="Trial Started", signal_name="Trial", score=2)
    # (Bodies differ: the same body from two sources would be one signal, deduplicated by content.)
    on_forms = send_signal(client, signal_key, {"event": "Trial Started", "email": "c@x.io", "n": 1}, source="forms")
    elsewhere = send_signal(client, signal_key, {"event": "Trial Started", "email": "c@x.io", "n": 2}, source="website")
    other_event = send_signal(client, signal_key, {"event": "Trial Ended", "email": "c@x.io", "n": 3}, source="forms")
    run_jobs()
    assert api_get(client, org, f"/v1/signals/{on_forms}")["mapped_signal"] == "Trial"
    assert api_get(client, org, f"/v1/signals/{elsewhere}")["mapped_signal"] is None
    assert api_get(client, org, f"/v1/signals/{other_event}")["mapped_signal"] is None


def test_an_email_found_by_field_map_ties_an_anonymous_signal_to_a_lead(client, org, signal_key, run_jobs):
    create_rule(
        client,
        org,
        name="form",
        event="Form Submitted",
        signal_name="Contact Form",
        score=7,
        field_map={"email": "properties.fields.work_email", "company": "properties.fields.company"},
    )
    answer = client.post(
        f"{SIGNAL_WEBHOOK}/{signal_key}",
        json={
            "anonymousId": "anon-7",
            "event": "Form Submitted",
            "properties": {"fields": {"work_email": "Zoe@Initech.com", "company": "Initech"}},
        },
    ).get_json()
    assert answer["cold_storage"] is True  # the web tier sees no email it knows about
    run_jobs()
    signal = api_get(client, org, f"/v1/signals/{answer['id']}")
    assert signal["cold_storage"] is False
    assert signal["email"] == "zoe@initech.com"
    lead = api_get(client, org, f"/v1/leads/{signal['lead_id']}")
    assert (lead["email"], lead["company"], lead["score"]) == ("zoe@initech.com", "Initech", 7)


def test_apply_maps_the_queue_once_however_often_it_runs(app, client, org, signal_key, run_jobs, monkeypatch):
    monkeypatch.setattr(mapping_api, "APPLY_WAIT", 0)  # no worker runs beside the test client
    body = {"event": "Pricing Page Viewed", "email": "dee@x.io", "context": {"page": {"url": "https://x.io/pricing"}}}
    for number in range(3):
        send_signal(client, signal_key, {**body, "n": number})
    send_signal(client, signal_key, {**body, "context": {"page": {"url": "https://x.io/blog"}}})
    run_jobs()
    rule = create_rule(
        client,
        org,
        name="pricing",
        signal_name="Pricing Page Viewed",
        score=5,
        conditions=[{"field": "context.page.url", "op": "regex", "value": r"/pricing\b"}],
    )

    started = client.post(f"/v1/mapping-rules/{rule['id']}/apply", headers=org["headers"])
    assert started.status_code == 202
    assert started.get_json()["status"] == "queued"
    job_id = started.get_json()["id"]
    run_jobs()
    progress = api_get(client, org, f"/v1/mapping-rules/{rule['id']}/apply/{job_id}")
    assert progress == {"id": job_id, "status": "finished", "mapped": 3, "scanned": 4}
    assert lead_by_email(client, org, "dee@x.io")["score"] == 15

    again = client.post(f"/v1/mapping-rules/{rule['id']}/apply", headers=org["headers"]).get_json()
    app.queues["default"].enqueue(apply_mapping_rule, rule["id"])  # and a stray duplicate job
    run_jobs()
    assert api_get(client, org, f"/v1/mapping-rules/{rule['id']}/apply/{again['id']}")["mapped"] == 0
    assert lead_by_email(client, org, "dee@x.io")["score"] == 15
    assert [(g["count"]) for g in api_get(client, org, "/v1/signal-queue")["groups"]] == [1]  # the blog view


def test_a_cold_mapped_signal_scores_its_lead_when_identify_names_it(client, org, signal_key, run_jobs):
    create_rule(client, org, name="registered", source="segment", event="Registered", signal_name="Registered", score=6)
    track = send_signal(client, signal_key, segment_call("segment_track.json", "track-1"))
    run_jobs()
    cold = api_get(client, org, f"/v1/signals/{track}")
    assert cold["mapped_signal"] == "Registered"
    assert cold["cold_storage"] is True
    assert cold["lead_id"] is None

    send_signal(client, signal_key, segment_call("segment_identify.json", "identify-1"))
    run_jobs()
    warm = api_get(client, org, f"/v1/signals/{track}")
    assert warm["cold_storage"] is False
    lead = api_get(client, org, f"/v1/leads/{warm['lead_id']}")
    assert lead["email"] == "peter@example.com"
    assert lead["score"] == 6

    send_signal(
        client, signal_key, segment_call("segment_identify.json", "identify-2")
    )  # a second identify changes nothing
    run_jobs()
    assert api_get(client, org, f"/v1/leads/{warm['lead_id']}")["score"] == 6


def test_mapping_publishes_signal_mapped_and_lead_updated(client, org, signal_key, receiver, run_jobs):
    client.post(
        "/v1/webhooks",
        json={"url": receiver.url(), "events": ["signal.mapped", "lead.updated"]},
        headers=org["headers"],
    )
    rule = create_rule(client, org, **DEMO_RULE)
    signal = send_signal(
        client,
        signal_key,
        {
            "event": "Demo Requested",
            "properties": {"plan": "pro"},
            "traits": {"email": "fay@x.io", "company": "Umbrella"},
        },
    )
    run_jobs()
    events = {event["type"]: event["data"] for event in (json.loads(r["body"]) for r in receiver.received())}
    assert sorted(events) == ["lead.updated", "signal.mapped"]
    assert events["signal.mapped"] == {
        "id": signal,
        "source": "generic",
        "event": "Demo Requested",
        "mapped_signal": "Demo Requested",
        "rule_id": rule["id"],
        "score": 10,
        "lead_id": events["lead.updated"]["id"],
    }
    assert events["lead.updated"]["score"] == 10
    assert events["lead.updated"]["company"] == "Umbrella"
