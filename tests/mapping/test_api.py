"""The mapping API: the signal queue, rules created, changed and checked, drafts tried, apply jobs kept private."""

import json

import pytest

from hookyard.mapping.jobs import apply_mapping_rule
from tests.helpers import DEMO_RULE, api_get, create_rule, segment_call, send_signal


def test_the_queue_groups_real_segment_calls_largest_first_with_a_draft_rule(
    client, org, other_org, signal_key, run_jobs
):
    for number in range(3):
        send_signal(client, signal_key, segment_call("segment_track.json", f"track-{number}"))
    send_signal(client, signal_key, segment_call("segment_identify.json", "identify-1"))
    send_signal(client, signal_key, segment_call("segment_page.json", "page-1"))
    send_signal(client, signal_key, segment_call("segment_page.json", "page-2", anonymousId="someone-else"))
    assert api_get(client, org, "/v1/signal-queue") == {"groups": []}  # nothing is stored before the worker runs
    run_jobs()

    groups = api_get(client, org, "/v1/signal-queue")["groups"]
    assert [(g["source"], g["event"], g["count"]) for g in groups] == [
        ("segment", "Registered", 3),
        ("segment", "page_view", 2),
        ("segment", "identify", 1),
    ]
    registered, _page, identify = groups
    assert registered["first_seen"] <= registered["last_seen"]
    assert registered["last_seen"].endswith("Z")
    assert registered["sample"]["event"] == "Registered"
    assert registered["sample"]["messageId"].startswith("track-")
    assert registered["suggested_rule"] == {
        "name": "Registered (segment)",
        "source": "segment",
        "event": "Registered",
        "conditions": [],
        "field_map": {},
        "signal_name": "Registered",
        "score": 10,
        "priority": 0,
        "active": True,
    }
    assert identify["suggested_rule"]["field_map"] == {"email": "traits.email", "name": "traits.name"}
    assert api_get(client, other_org, "/v1/signal-queue") == {"groups": []}

    # A suggested rule is a valid rule as it stands.
    created = client.post("/v1/mapping-rules", json=identify["suggested_rule"], headers=org["headers"])
    assert created.status_code == 201, created.data


def test_the_queue_is_limited_and_rejects_a_bad_limit(client, org, signal_key, run_jobs):
    for number, event in enumerate(("a", "b", "b")):
        send_signal(client, signal_key, {"event": event, "email": "x@y.io", "n": number})
    run_jobs()
    assert [g["event"] for g in api_get(client, org, "/v1/signal-queue?limit=1")["groups"]] == ["b"]
    response = client.get("/v1/signal-queue?limit=0", headers=org["headers"])
    assert response.status_code == 400
    assert "limit" in response.get_json()["errors"]


def test_rules_are_created_listed_read_changed_and_deleted(client, org, other_org):
    rule = create_rule(client, org, **DEMO_RULE)
    assert rule["source"] is None
    assert rule["priority"] == 0
    assert rule["active"] is True
    assert rule["conditions"] == DEMO_RULE["conditions"]
    assert rule["field_map"] == DEMO_RULE["field_map"]
    assert api_get(client, org, f"/v1/mapping-rules/{rule['id']}") == rule
    assert [r["id"] for r in api_get(client, org, "/v1/mapping-rules")["mapping_rules"]] == [rule["id"]]

    changed = client.patch(
        f"/v1/mapping-rules/{rule['id']}", json={"priority": 5, "active": False}, headers=org["headers"]
    )
    assert changed.status_code == 200
    assert changed.get_json()["priority"] == 5
    assert changed.get_json()["active"] is False
    assert changed.get_json()["signal_name"] == "Demo Requested"  # untouched fields stay
    bad = client.patch(
        f"/v1/mapping-rules/{rule['id']}",
        json={"conditions": [{"field": "x", "op": "gt", "value": "big"}]},
        headers=org["headers"],
    )
    assert bad.status_code == 400
    assert api_get(client, org, f"/v1/mapping-rules/{rule['id']}")["conditions"] == DEMO_RULE["conditions"]

    for method in ("get", "patch", "delete"):  # another organization's rule does not exist for it
        answer = getattr(client, method)(f"/v1/mapping-rules/{rule['id']}", json={}, headers=other_org["headers"])
        assert answer.status_code == 404
        assert answer.get_json()["error"] == "not_found"
    assert client.delete(f"/v1/mapping-rules/{rule['id']}", headers=org["headers"]).status_code == 204
    assert client.get(f"/v1/mapping-rules/{rule['id']}", headers=org["headers"]).status_code == 404
    assert client.get("/v1/mapping-rules", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.parametrize(
    ("condition", "where", "says"),
    [
        ({"field": "context.page.url", "op": "regex", "value": "(pricing"}, "value", "does not compile"),
        ({"field": "properties.seats", "op": "gt", "value": "ten"}, "value", "must be a number"),
        ({"field": "properties.plan", "op": "like", "value": "pro"}, "op", "Must be one of"),
        ({"field": "properties.plan", "op": "in", "value": "pro"}, "value", "needs a list"),
        ({"field": "properties..plan", "op": "exists"}, "value", "dot path"),
    ],
)
def test_an_invalid_condition_is_a_400_naming_it(client, org, condition, where, says):
    body = {**DEMO_RULE, "conditions": [{"field": "event", "op": "exists"}, condition]}
    response = client.post("/v1/mapping-rules", json=body, headers=org["headers"])
    assert response.status_code == 400
    error = response.get_json()
    assert error["error"] == "validation_failed"
    problems = error["errors"]["conditions"]["1"]
    assert says in json.dumps(problems)
    assert where in problems or "op" in problems
    assert api_get(client, org, "/v1/mapping-rules")["mapping_rules"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"signal_name": None}, "signal_name"),
        ({"name": ""}, "name"),
        ({"field_map": {"phone": "traits.phone"}}, "field_map"),
        ({"score": "lots"}, "score"),
        ({"conditions": "all"}, "conditions"),
    ],
)
def test_an_invalid_rule_is_a_400_naming_the_field(client, org, change, field):
    response = client.post("/v1/mapping-rules", json={**DEMO_RULE, **change}, headers=org["headers"])
    assert response.status_code == 400
    assert field in response.get_json()["errors"]


def test_apply_and_its_progress_are_private_to_the_organization(client, org, other_org, app):
    rule = create_rule(client, org, name="r", signal_name="R")
    assert client.post(f"/v1/mapping-rules/{rule['id']}/apply", headers=other_org["headers"]).status_code == 404
    assert client.post("/v1/mapping-rules/999999/apply", headers=org["headers"]).status_code == 404
    job = app.queues["default"].enqueue(
        apply_mapping_rule, rule["id"], meta={"organization_id": org["id"], "rule_id": rule["id"]}
    )
    assert client.get(f"/v1/mapping-rules/{rule['id']}/apply/{job.id}", headers=org["headers"]).status_code == 200
    assert client.get(f"/v1/mapping-rules/{rule['id']}/apply/{job.id}", headers=other_org["headers"]).status_code == 404
    assert client.get(f"/v1/mapping-rules/{rule['id']}/apply/nope", headers=org["headers"]).status_code == 404


def test_a_draft_rule_is_tried_on_the_latest_queued_signals(client, org, signal_key, run_jobs):
    for plan in ("free", "pro", "enterprise"):
        send_signal(
            client,
            signal_key,
            {
                "event": "Demo Requested",
                "properties": {"plan": plan},
                "traits": {"email": f"{plan}@x.io", "company": plan.title()},
            },
        )
    run_jobs()
    draft = {key: DEMO_RULE[key] for key in ("event", "conditions", "field_map")}
    result = client.post("/v1/mapping-rules/test", json=draft, headers=org["headers"])
    assert result.status_code == 200
    body = result.get_json()
    assert body["tried"] == 3
    assert body["matched"] == 2
    assert [s["fields"] for s in body["signals"]] == [
        {"email": "enterprise@x.io", "company": "Enterprise"},
        {"email": "pro@x.io", "company": "Pro"},
    ]
    assert (
        client.post("/v1/mapping-rules/test", json={**draft, "limit": 1}, headers=org["headers"]).get_json()["tried"]
        == 1
    )
    assert api_get(client, org, "/v1/mapping-rules")["mapping_rules"] == []  # nothing was saved
    assert all(g["count"] == 3 for g in api_get(client, org, "/v1/signal-queue")["groups"])  # nothing was mapped
    bad = client.post(
        "/v1/mapping-rules/test",
        json={"conditions": [{"field": "a", "op": "gt", "value": "x"}]},
        headers=org["headers"],
    )
    assert bad.status_code == 400
    assert "0" in bad.get_json()["errors"]["conditions"]
