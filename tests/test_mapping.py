"""The signal queue and mapping rules through the real path: HTTP -> Redis -> worker -> database -> HTTP."""

import json

import pytest
from conftest import payload

from hookyard.mapping import api as views_mapping

WEBHOOK = "/api/signal-staging/webhook"
DEMO_RULE = {"name": "Demo form", "event": "Demo Requested",
             "conditions": [{"field": "properties.plan", "op": "in", "value": ["pro", "enterprise"]}],
             "field_map": {"email": "traits.email", "company": "traits.company", "title": "traits.title",
                           "name": "traits.name"},
             "signal_name": "Demo Requested", "score": 10}


def send(client, key, body, source=None):
    path = f"{WEBHOOK}/{source}/{key}" if source else f"{WEBHOOK}/{key}"
    response = client.post(path, json=body)
    assert response.status_code == 202, response.data
    return response.get_json()["id"]


def segment(name, message_id, **changes):
    return {**payload(name), "messageId": message_id, **changes}


def create_rule(client, org, **body):
    response = client.post("/v1/mapping-rules", json=body, headers=org["headers"])
    assert response.status_code == 201, response.data
    return response.get_json()


def get(client, org, path):
    response = client.get(path, headers=org["headers"])
    assert response.status_code == 200, response.data
    return response.get_json()


def lead_by_email(client, org, email):
    leads = get(client, org, f"/v1/leads?email={email}")["leads"]
    return leads[0] if leads else None


def test_the_queue_groups_real_segment_calls_largest_first_with_a_draft_rule(client, org, other_org, signal_key,
                                                                               run_jobs):
    for number in range(3):
        send(client, signal_key, segment("segment_track.json", f"track-{number}"))
    send(client, signal_key, segment("segment_identify.json", "identify-1"))
    send(client, signal_key, segment("segment_page.json", "page-1"))
    send(client, signal_key, segment("segment_page.json", "page-2", anonymousId="someone-else"))
    assert get(client, org, "/v1/signal-queue") == {"groups": []}  # nothing is stored before the worker runs
    run_jobs()

    groups = get(client, org, "/v1/signal-queue")["groups"]
    assert [(g["source"], g["event"], g["count"]) for g in groups] == [
        ("segment", "Registered", 3), ("segment", "page_view", 2), ("segment", "identify", 1)]
    registered, _page, identify = groups
    assert registered["first_seen"] <= registered["last_seen"] and registered["last_seen"].endswith("Z")
    assert registered["sample"]["event"] == "Registered" and registered["sample"]["messageId"].startswith("track-")
    assert registered["suggested_rule"] == {
        "name": "Registered (segment)", "source": "segment", "event": "Registered", "conditions": [], "field_map": {},
        "signal_name": "Registered", "score": 10, "priority": 0, "active": True}
    assert identify["suggested_rule"]["field_map"] == {"email": "traits.email", "name": "traits.name"}
    assert get(client, other_org, "/v1/signal-queue") == {"groups": []}

    # A suggested rule is a valid rule as it stands.
    created = client.post("/v1/mapping-rules", json=identify["suggested_rule"], headers=org["headers"])
    assert created.status_code == 201, created.data


def test_the_queue_is_limited_and_rejects_a_bad_limit(client, org, signal_key, run_jobs):
    for number, event in enumerate(("a", "b", "b")):
        send(client, signal_key, {"event": event, "email": "x@y.io", "n": number})
    run_jobs()
    assert [g["event"] for g in get(client, org, "/v1/signal-queue?limit=1")["groups"]] == ["b"]
    response = client.get("/v1/signal-queue?limit=0", headers=org["headers"])
    assert response.status_code == 400 and "limit" in response.get_json()["errors"]


def test_rules_are_created_listed_read_changed_and_deleted(client, org, other_org):
    rule = create_rule(client, org, **DEMO_RULE)
    assert rule["source"] is None and rule["priority"] == 0 and rule["active"] is True
    assert rule["conditions"] == DEMO_RULE["conditions"] and rule["field_map"] == DEMO_RULE["field_map"]
    assert get(client, org, f"/v1/mapping-rules/{rule['id']}") == rule
    assert [r["id"] for r in get(client, org, "/v1/mapping-rules")["mapping_rules"]] == [rule["id"]]

    changed = client.patch(f"/v1/mapping-rules/{rule['id']}", json={"priority": 5, "active": False},
                           headers=org["headers"])
    assert changed.status_code == 200
    assert changed.get_json()["priority"] == 5 and changed.get_json()["active"] is False
    assert changed.get_json()["signal_name"] == "Demo Requested"  # untouched fields stay
    bad = client.patch(f"/v1/mapping-rules/{rule['id']}", json={"conditions": [{"field": "x", "op": "gt",
                                                                                 "value": "big"}]},
                       headers=org["headers"])
    assert bad.status_code == 400
    assert get(client, org, f"/v1/mapping-rules/{rule['id']}")["conditions"] == DEMO_RULE["conditions"]

    for method in ("get", "patch", "delete"):  # another organization's rule does not exist for it
        answer = getattr(client, method)(f"/v1/mapping-rules/{rule['id']}", json={}, headers=other_org["headers"])
        assert answer.status_code == 404 and answer.get_json()["error"] == "not_found"
    assert client.delete(f"/v1/mapping-rules/{rule['id']}", headers=org["headers"]).status_code == 204
    assert client.get(f"/v1/mapping-rules/{rule['id']}", headers=org["headers"]).status_code == 404
    assert client.get("/v1/mapping-rules", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.parametrize(("condition", "where", "says"), [
    ({"field": "context.page.url", "op": "regex", "value": "(pricing"}, "value", "does not compile"),
    ({"field": "properties.seats", "op": "gt", "value": "ten"}, "value", "must be a number"),
    ({"field": "properties.plan", "op": "like", "value": "pro"}, "op", "Must be one of"),
    ({"field": "properties.plan", "op": "in", "value": "pro"}, "value", "needs a list"),
    ({"field": "properties..plan", "op": "exists"}, "value", "dot path"),
])
def test_an_invalid_condition_is_a_400_naming_it(client, org, condition, where, says):
    body = {**DEMO_RULE, "conditions": [{"field": "event", "op": "exists"}, condition]}
    response = client.post("/v1/mapping-rules", json=body, headers=org["headers"])
    assert response.status_code == 400
    error = response.get_json()
    assert error["error"] == "validation_failed"
    problems = error["errors"]["conditions"]["1"]
    assert says in json.dumps(problems) and (where in problems or "op" in problems)
    assert get(client, org, "/v1/mapping-rules")["mapping_rules"] == []


@pytest.mark.parametrize(("change", "field"), [({"signal_name": None}, "signal_name"), ({"name": ""}, "name"),
                                                ({"field_map": {"phone": "traits.phone"}}, "field_map"),
                                                ({"score": "lots"}, "score"), ({"conditions": "all"}, "conditions")])
def test_an_invalid_rule_is_a_400_naming_the_field(client, org, change, field):
    response = client.post("/v1/mapping-rules", json={**DEMO_RULE, **change}, headers=org["headers"])
    assert response.status_code == 400 and field in response.get_json()["errors"]


def test_new_signals_are_mapped_as_they_are_stored_scoring_and_filling_the_lead(client, org, signal_key, run_jobs):
    rule = create_rule(client, org, **DEMO_RULE)
    demo = {"event": "Demo Requested", "properties": {"plan": "enterprise"},
            "traits": {"email": "Ann@Acme.io", "company": "Acme", "title": "CTO", "name": "Ann Lee"}}
    first = send(client, signal_key, demo)
    second = send(client, signal_key, {**demo, "properties": {"plan": "pro"}, "traits": {"email": "ann@acme.io",
                                                                                          "title": "CEO"}})
    free = send(client, signal_key, {**demo, "properties": {"plan": "free"}})
    run_jobs()

    mapped = get(client, org, f"/v1/signals/{first}")
    assert mapped["status"] == "mapped" and mapped["mapped_signal"] == "Demo Requested"
    assert get(client, org, f"/v1/signals/{second}")["mapped_signal"] == "Demo Requested"
    unmapped = get(client, org, f"/v1/signals/{free}")
    assert unmapped["status"] == "processed" and unmapped["mapped_signal"] is None
    lead = get(client, org, f"/v1/leads/{mapped['lead_id']}")
    assert lead["score"] == 20 and lead["email"] == "ann@acme.io"
    assert (lead["name"], lead["company"], lead["title"]) == ("Ann Lee", "Acme", "CEO")  # the later signal wins
    queue = get(client, org, "/v1/signal-queue")["groups"]
    assert [(g["event"], g["count"]) for g in queue] == [("Demo Requested", 1)]  # only the free-plan one is left
    assert rule["id"] == get(client, org, "/v1/mapping-rules")["mapping_rules"][0]["id"]


def test_the_highest_priority_active_rule_wins_and_ties_go_to_the_older(client, org, signal_key, run_jobs):
    base = {"conditions": [{"field": "properties.form_name", "op": "exists"}], "field_map": {"email": "email"}}
    create_rule(client, org, name="low", signal_name="Low", score=1, priority=0, **base)
    create_rule(client, org, name="older", signal_name="Older", score=3, priority=5, **base)
    create_rule(client, org, name="newer", signal_name="Newer", score=4, priority=5, **base)
    create_rule(client, org, name="off", signal_name="Off", score=100, priority=50, active=False, **base)
    signal = send(client, signal_key, {"email": "bo@x.io", "event": "Form", "properties": {"form_name": "Demo"}})
    run_jobs()
    stored = get(client, org, f"/v1/signals/{signal}")
    assert stored["mapped_signal"] == "Older"
    assert get(client, org, f"/v1/leads/{stored['lead_id']}")["score"] == 3  # one rule maps a signal, once


def test_source_and_event_narrow_a_rule(client, org, signal_key, run_jobs):
    create_rule(client, org, name="forms only", source="forms", event="Trial Started", signal_name="Trial", score=2)
    # (Bodies differ: the same body from two sources would be one signal, deduplicated by content.)
    on_forms = send(client, signal_key, {"event": "Trial Started", "email": "c@x.io", "n": 1}, source="forms")
    elsewhere = send(client, signal_key, {"event": "Trial Started", "email": "c@x.io", "n": 2}, source="website")
    other_event = send(client, signal_key, {"event": "Trial Ended", "email": "c@x.io", "n": 3}, source="forms")
    run_jobs()
    assert get(client, org, f"/v1/signals/{on_forms}")["mapped_signal"] == "Trial"
    assert get(client, org, f"/v1/signals/{elsewhere}")["mapped_signal"] is None
    assert get(client, org, f"/v1/signals/{other_event}")["mapped_signal"] is None


def test_an_email_found_by_field_map_ties_an_anonymous_signal_to_a_lead(client, org, signal_key, run_jobs):
    create_rule(client, org, name="form", event="Form Submitted", signal_name="Contact Form", score=7,
                field_map={"email": "properties.fields.work_email", "company": "properties.fields.company"})
    answer = client.post(f"{WEBHOOK}/{signal_key}", json={
        "anonymousId": "anon-7", "event": "Form Submitted",
        "properties": {"fields": {"work_email": "Zoe@Initech.com", "company": "Initech"}}}).get_json()
    assert answer["cold_storage"] is True  # the web tier sees no email it knows about
    run_jobs()
    signal = get(client, org, f"/v1/signals/{answer['id']}")
    assert signal["cold_storage"] is False and signal["email"] == "zoe@initech.com"
    lead = get(client, org, f"/v1/leads/{signal['lead_id']}")
    assert (lead["email"], lead["company"], lead["score"]) == ("zoe@initech.com", "Initech", 7)


def test_apply_maps_the_queue_once_however_often_it_runs(app, client, org, signal_key, run_jobs, monkeypatch):
    monkeypatch.setattr(views_mapping, "APPLY_WAIT", 0)  # no worker runs beside the test client
    body = {"event": "Pricing Page Viewed", "email": "dee@x.io", "context": {"page": {"url": "https://x.io/pricing"}}}
    for number in range(3):
        send(client, signal_key, {**body, "n": number})
    send(client, signal_key, {**body, "context": {"page": {"url": "https://x.io/blog"}}})
    run_jobs()
    rule = create_rule(client, org, name="pricing", signal_name="Pricing Page Viewed", score=5,
                       conditions=[{"field": "context.page.url", "op": "regex", "value": r"/pricing\b"}])

    started = client.post(f"/v1/mapping-rules/{rule['id']}/apply", headers=org["headers"])
    assert started.status_code == 202 and started.get_json()["status"] == "queued"
    job_id = started.get_json()["id"]
    run_jobs()
    progress = get(client, org, f"/v1/mapping-rules/{rule['id']}/apply/{job_id}")
    assert progress == {"id": job_id, "status": "finished", "mapped": 3, "scanned": 4}
    assert lead_by_email(client, org, "dee@x.io")["score"] == 15

    again = client.post(f"/v1/mapping-rules/{rule['id']}/apply", headers=org["headers"]).get_json()
    app.queues["default"].enqueue("worker.apply_mapping_rule", rule["id"])  # and a stray duplicate job
    run_jobs()
    assert get(client, org, f"/v1/mapping-rules/{rule['id']}/apply/{again['id']}")["mapped"] == 0
    assert lead_by_email(client, org, "dee@x.io")["score"] == 15
    assert [(g["count"]) for g in get(client, org, "/v1/signal-queue")["groups"]] == [1]  # the blog view


def test_apply_answers_mapped_at_once_when_the_worker_is_quick(client, org, signal_key, run_jobs, worker_process):
    send(client, signal_key, {"event": "Trial Started", "email": "eve@x.io"})
    run_jobs()
    rule = create_rule(client, org, name="trial", event="Trial Started", signal_name="Trial Started", score=4)
    worker_process()
    answer = None
    for _ in range(10):  # the first call can come before the worker process is listening
        answer = client.post(f"/v1/mapping-rules/{rule['id']}/apply", headers=org["headers"])
        if answer.status_code == 200:
            break
    assert answer.status_code == 200, answer.data
    assert answer.get_json()["mapped"] in (0, 1)  # an earlier 202 job may have mapped it already
    assert lead_by_email(client, org, "eve@x.io")["score"] == 4


def test_apply_and_its_progress_are_private_to_the_organization(client, org, other_org, app):
    rule = create_rule(client, org, name="r", signal_name="R")
    assert client.post(f"/v1/mapping-rules/{rule['id']}/apply", headers=other_org["headers"]).status_code == 404
    assert client.post("/v1/mapping-rules/999999/apply", headers=org["headers"]).status_code == 404
    job = app.queues["default"].enqueue("worker.apply_mapping_rule", rule["id"],
                                        meta={"organization_id": org["id"], "rule_id": rule["id"]})
    assert client.get(f"/v1/mapping-rules/{rule['id']}/apply/{job.id}", headers=org["headers"]).status_code == 200
    assert client.get(f"/v1/mapping-rules/{rule['id']}/apply/{job.id}",
                      headers=other_org["headers"]).status_code == 404
    assert client.get(f"/v1/mapping-rules/{rule['id']}/apply/nope", headers=org["headers"]).status_code == 404


def test_a_cold_mapped_signal_scores_its_lead_when_identify_names_it(client, org, signal_key, run_jobs):
    create_rule(client, org, name="registered", source="segment", event="Registered", signal_name="Registered",
                score=6)
    track = send(client, signal_key, segment("segment_track.json", "track-1"))
    run_jobs()
    cold = get(client, org, f"/v1/signals/{track}")
    assert cold["mapped_signal"] == "Registered" and cold["cold_storage"] is True and cold["lead_id"] is None

    send(client, signal_key, segment("segment_identify.json", "identify-1"))
    run_jobs()
    warm = get(client, org, f"/v1/signals/{track}")
    assert warm["cold_storage"] is False
    lead = get(client, org, f"/v1/leads/{warm['lead_id']}")
    assert lead["email"] == "peter@example.com" and lead["score"] == 6

    send(client, signal_key, segment("segment_identify.json", "identify-2"))  # a second identify changes nothing
    run_jobs()
    assert get(client, org, f"/v1/leads/{warm['lead_id']}")["score"] == 6


def test_a_draft_rule_is_tried_on_the_latest_queued_signals(client, org, signal_key, run_jobs):
    for plan in ("free", "pro", "enterprise"):
        send(client, signal_key, {"event": "Demo Requested", "properties": {"plan": plan},
                                  "traits": {"email": f"{plan}@x.io", "company": plan.title()}})
    run_jobs()
    draft = {key: DEMO_RULE[key] for key in ("event", "conditions", "field_map")}
    result = client.post("/v1/mapping-rules/test", json=draft, headers=org["headers"])
    assert result.status_code == 200
    body = result.get_json()
    assert body["tried"] == 3 and body["matched"] == 2
    assert [s["fields"] for s in body["signals"]] == [{"email": "enterprise@x.io", "company": "Enterprise"},
                                                      {"email": "pro@x.io", "company": "Pro"}]
    assert client.post("/v1/mapping-rules/test", json={**draft, "limit": 1},
                       headers=org["headers"]).get_json()["tried"] == 1
    assert get(client, org, "/v1/mapping-rules")["mapping_rules"] == []  # nothing was saved
    assert all(g["count"] == 3 for g in get(client, org, "/v1/signal-queue")["groups"])  # nothing was mapped
    bad = client.post("/v1/mapping-rules/test", json={"conditions": [{"field": "a", "op": "gt", "value": "x"}]},
                      headers=org["headers"])
    assert bad.status_code == 400 and "0" in bad.get_json()["errors"]["conditions"]


def test_mapping_publishes_signal_mapped_and_lead_updated(client, org, signal_key, receiver, run_jobs):
    client.post("/v1/webhooks", json={"url": receiver.url(), "events": ["signal.mapped", "lead.updated"]},
                headers=org["headers"])
    rule = create_rule(client, org, **DEMO_RULE)
    signal = send(client, signal_key, {"event": "Demo Requested", "properties": {"plan": "pro"},
                                       "traits": {"email": "fay@x.io", "company": "Umbrella"}})
    run_jobs()
    events = {event["type"]: event["data"] for event in (json.loads(r["body"]) for r in receiver.received())}
    assert sorted(events) == ["lead.updated", "signal.mapped"]
    assert events["signal.mapped"] == {"id": signal, "source": "generic", "event": "Demo Requested",
                                       "mapped_signal": "Demo Requested", "rule_id": rule["id"], "score": 10,
                                       "lead_id": events["lead.updated"]["id"]}
    assert events["lead.updated"]["score"] == 10 and events["lead.updated"]["company"] == "Umbrella"
