"""Managing flows: the flows API, the event log, metrics and the playground."""

import json

import pytest

from tests.helpers import CUSTOM_EVENT, GITHUB_SECRET, flow_events, flow_metrics, payload, post_to_flow, subscribe


def test_flows_are_created_listed_changed_paused_and_deleted(client, org, other_org, make_flow, flow_key):
    flow = make_flow(github_secret=GITHUB_SECRET, rate_limit_per_second=5)
    assert flow["secret"] is None
    assert flow["has_github_secret"] is True
    assert flow["has_stripe_secret"] is False
    assert flow["rate_limit_per_second"] == 5
    assert flow["active"] is True
    assert flow["webhook_id"].startswith("wh_")
    assert len(flow["webhook_id"]) >= 32
    assert GITHUB_SECRET not in json.dumps(client.get("/v1/flows", headers=org["headers"]).get_json())
    listed = client.get("/v1/flows", headers=org["headers"]).get_json()
    assert [f["id"] for f in listed["flows"]] == [flow["id"]]
    assert listed["next_cursor"] is None

    rotated = client.patch(
        f"/v1/flows/{flow['id']}", json={"secret": True, "github_secret": None, "name": "Repo"}, headers=org["headers"]
    ).get_json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["has_github_secret"] is False
    assert rotated["name"] == "Repo"
    assert rotated["webhook_id"] == flow["webhook_id"]
    paused = client.patch(f"/v1/flows/{flow['id']}", json={"active": False}, headers=org["headers"]).get_json()
    assert paused["active"] is False
    assert paused["has_secret"] is True
    refused = post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    assert refused.status_code == 404
    assert refused.get_json()["error"] == "flow_paused"

    bad = client.post(
        "/v1/flows", json={"name": "", "rate_limit_per_second": 0, "github_secret": "short"}, headers=org["headers"]
    )
    assert bad.status_code == 400
    assert set(bad.get_json()["errors"]) == {"name", "rate_limit_per_second", "github_secret"}
    for method in ("get", "patch", "delete"):
        answer = getattr(client, method)(f"/v1/flows/{flow['id']}", json={}, headers=other_org["headers"])
        assert answer.status_code == 404
    assert client.get(f"/v1/flows/{flow['id']}/events", headers=other_org["headers"]).status_code == 404
    assert client.delete(f"/v1/flows/{flow['id']}", headers=org["headers"]).status_code == 204
    assert post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key}).status_code == 404


def test_the_event_log_filters_and_pages(client, org, make_flow, flow_key, run_jobs):
    flow = make_flow()
    for n in range(3):
        post_to_flow(client, flow, {"event": "a", "n": n}, **{"X-API-Key": flow_key})
    post_to_flow(client, flow, {"event": "b"}, **{"X-API-Key": flow_key})
    run_jobs()
    assert [e["event"] for e in flow_events(client, org, flow, "?event=b")] == ["b"]
    assert flow_events(client, org, flow, "?source=github") == []
    assert len(flow_events(client, org, flow, "?since=2000-01-01T00:00:00Z")) == 4
    assert flow_events(client, org, flow, "?until=2000-01-01T00:00:00Z") == []
    first = client.get(f"/v1/flows/{flow['id']}/events?limit=3", headers=org["headers"]).get_json()
    rest = client.get(
        f"/v1/flows/{flow['id']}/events?limit=3&cursor={first['next_cursor']}", headers=org["headers"]
    ).get_json()
    assert len(first["events"]) == 3
    assert len(rest["events"]) == 1
    assert rest["next_cursor"] is None
    assert {e["id"] for e in first["events"]} | {rest["events"][0]["id"]} == {
        e["id"] for e in flow_events(client, org, flow)
    }
    bad = client.get(f"/v1/flows/{flow['id']}/events?source=gitlab", headers=org["headers"])
    assert bad.status_code == 400
    assert "source" in bad.get_json()["errors"]


@pytest.mark.parametrize(
    "cursor",
    [
        "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIixbMSwyXV0",  # ["2026-01-01T00:00:00",[1,2]]
        "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwiYVx1MDAwMCJd",  # ["2026-...","a\u0000"]
        "WzEsMl0",
        "bm9wZQ",
    ],
)
def test_a_tampered_cursor_is_a_400(client, org, make_flow, cursor):
    flow = make_flow()
    for path in ("/v1/flows", f"/v1/flows/{flow['id']}/events"):
        response = client.get(f"{path}?cursor={cursor}", headers=org["headers"])
        assert response.status_code == 400, path
        assert response.get_json()["error"] == "invalid_cursor", path


def test_metrics_count_accepted_rejected_and_failed_deliveries(client, org, make_flow, flow_key, receiver, run_jobs):
    for path, events_ in (("/ok", ["flow.*"]), ("/gone", ["flow.order.failed"])):
        client.post("/v1/webhooks", json={"url": receiver.url(path), "events": events_}, headers=org["headers"])
    # /gone answers 410: that delivery fails for good at once.
    receiver.answer = lambda request: (410, b"gone", 0, {}) if request["path"] == "/gone" else (200, b"ok", 0, {})
    flow = make_flow()
    empty = flow_metrics(client, org, flow)
    assert empty["event_volume"] == 0
    assert empty["error_rate"] is None
    assert empty["latency_ms"]["p50"] is None
    for n, event in enumerate(("order.paid", "order.paid", "order.failed")):
        post_to_flow(client, flow, {"event": event, "n": n}, **{"X-API-Key": flow_key})
    post_to_flow(client, flow, {"event": "order.paid"})  # 401
    post_to_flow(client, flow, {"data": {}}, **{"X-API-Key": flow_key})  # 400
    run_jobs()

    shown = flow_metrics(client, org, flow)
    assert shown["window"] == "1h"
    assert shown["accepted"] == 3
    assert shown["rejected"] == {"400": 1, "401": 1}
    assert shown["event_volume"] == 5
    assert shown["failed_deliveries"] == 1
    assert len(receiver.received("/ok")) == 3
    assert len(receiver.received("/gone")) == 1
    assert shown["error_rate"] == pytest.approx(3 / 5, abs=1e-4)
    assert shown["success_rate"] == pytest.approx(2 / 5, abs=1e-4)
    latency = shown["latency_ms"]
    assert 0 <= latency["p50"] <= latency["p95"] <= latency["p99"]
    assert sum(point["count"] for point in shown["series"]) == 5
    assert sum(point["errors"] for point in shown["series"]) == 3
    assert len(shown["series"]) == 60  # the last 60 minutes
    assert shown["series"][-1]["t"].endswith(":00.000Z")
    for window in ("2h", "24h", "7d"):
        assert len(flow_metrics(client, org, flow, window)["series"]) <= 120
    bad = client.get(f"/v1/flows/{flow['id']}/metrics?window=8d", headers=org["headers"])
    assert bad.status_code == 400
    assert "window" in bad.get_json()["errors"]
    assert client.get(f"/v1/flows/{flow['id']}/metrics?window=soon", headers=org["headers"]).status_code == 400


def test_the_playground_sends_through_your_own_flow(client, org, make_flow, receiver, run_jobs):
    subscribe(client, org, receiver)
    flow = make_flow()
    tried = client.post(
        "/api/playground/test",
        json={"webhookUrl": flow["webhook_url"], "payload": CUSTOM_EVENT},
        headers=org["headers"],
    )
    assert tried.status_code == 200, tried.data
    result = tried.get_json()
    assert result["status"] == 200
    assert result["response"]["status"] == "queued"
    assert result["latency_ms"] >= 0
    run_jobs()
    assert flow_events(client, org, flow)[0]["id"] == result["response"]["id"]
    assert len(receiver.received()) == 1


def test_the_playground_shows_the_flows_own_answer(client, org, make_flow):
    flow = make_flow()
    no_event = client.post(
        "/api/playground/test", json={"webhookUrl": flow["webhook_url"], "payload": {"x": 1}}, headers=org["headers"]
    ).get_json()
    assert no_event["status"] == 400
    assert no_event["response"]["error"] == "validation_failed"
    github = client.post(
        "/api/playground/test",
        json={
            "webhookUrl": flow["webhook_url"],
            "payload": payload("github_ping.json"),
            "headers": {"X-GitHub-Event": "ping"},
        },
        headers=org["headers"],
    ).get_json()
    assert github["status"] == 200
    assert github["response"]["event"] == "ping"


def test_the_playground_sends_nowhere_but_your_own_flows(client, org, other_org, make_flow, receiver):
    flow = make_flow()
    foreign = make_flow(headers=other_org["headers"])
    for url in (
        foreign["webhook_url"],
        receiver.url(),
        f"http://evil.example/webhooks/{flow['webhook_id']}",
        flow["webhook_url"] + "?x=1",
        "not a url",
        "file:///etc/passwd",
    ):
        refused = client.post(
            "/api/playground/test", json={"webhookUrl": url, "payload": CUSTOM_EVENT}, headers=org["headers"]
        )
        assert refused.status_code == 400, url
        assert refused.get_json()["error"] == "not_a_flow_url", url
    assert receiver.received() == []  # nothing was fetched
    anonymous = client.post("/api/playground/test", json={"webhookUrl": flow["webhook_url"], "payload": {}})
    assert anonymous.status_code == 401
    assert client.post("/api/playground/test", json={"payload": {}}, headers=org["headers"]).status_code == 400


def test_playground_headers_with_line_breaks_are_a_400(client, org, make_flow):
    flow = make_flow()
    for headers in ({"X-GitHub-Event": "a\nb"}, {"Bad Name": "x"}, {"X-Nul": "\u0000"}):
        response = client.post(
            "/api/playground/test",
            json={"webhookUrl": flow["webhook_url"], "payload": CUSTOM_EVENT, "headers": headers},
            headers=org["headers"],
        )
        assert response.status_code == 400, headers
        assert "headers" in response.get_json()["errors"], headers


def test_nul_characters_are_400s_or_404s_never_500s(client, org, make_flow, flow_key):
    flow = make_flow()
    assert client.post(
        "/webhooks/wh_%00abcdefghij", json=CUSTOM_EVENT, headers={"X-API-Key": flow_key}
    ).status_code in (400, 404)
    assert client.get("/v1/flows/flow_%00", headers=org["headers"]).status_code == 400
    assert client.get(f"/v1/flows/{flow['id']}/events?event=%00", headers=org["headers"]).status_code == 400
    named = client.post("/v1/flows", json={"name": "a\u0000b"}, headers=org["headers"])
    assert named.status_code == 400
    assert "name" in named.get_json()["errors"]
    rule = client.post("/v1/mapping-rules", json={"name": "x", "signal_name": "\u0000"}, headers=org["headers"])
    assert rule.status_code == 400
    assert "signal_name" in rule.get_json()["errors"]
    played = client.post(
        "/api/playground/test",
        json={"webhookUrl": flow["webhook_url"] + "\u0000", "payload": CUSTOM_EVENT},
        headers=org["headers"],
    )
    assert played.status_code == 400
