"""Flow ingress through the real path: HTTP -> Redis -> worker -> database -> outbound delivery -> HTTP.

Custom events posted with a flow key: authentication, clear refusals, deduplication and the rate limit.
"""

import json
import time

import pytest
from standardwebhooks.webhooks import Webhook

from tests.helpers import (
    CUSTOM_EVENT,
    GITHUB_SECRET,
    PUSH_HEADERS,
    flow_events,
    flow_metrics,
    payload_bytes,
    post_to_flow,
    subscribe,
)


def test_the_custom_api_example_is_queued_logged_and_delivered_signed(
    client, org, make_flow, flow_key, receiver, run_jobs
):
    hook = subscribe(client, org, receiver)
    flow = make_flow()
    assert flow["webhook_url"] == f"http://localhost/webhooks/{flow['webhook_id']}"
    response = post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    assert response.status_code == 200
    answer = response.get_json()
    assert answer == {"id": answer["id"], "status": "queued", "event": "user.signup"}
    assert answer["id"].startswith("fev_")
    assert flow_events(client, org, flow) == []  # stored by the worker, not the request
    run_jobs()

    (logged,) = flow_events(client, org, flow)
    assert logged["id"] == answer["id"]
    assert logged["event"] == "user.signup"
    assert logged["source"] == "custom"
    assert logged["status"] == "processed"
    assert logged["duplicate"] is False
    assert logged["verified"] is False
    assert logged["data"] == CUSTOM_EVENT["data"]
    assert logged["received_at"].endswith("Z")
    assert logged["latency_ms"] >= 0
    assert logged["outbound_event_id"].startswith("evt_")
    (delivery,) = receiver.received()
    headers = {name.lower(): value for name, value in delivery["headers"].items()}
    Webhook(hook["secret"]).verify(delivery["body"], headers)  # signed as every outbound event
    sent = json.loads(delivery["body"])
    assert sent["type"] == "flow.user.signup"
    assert sent["id"] == logged["outbound_event_id"]
    assert sent["data"]["flow_id"] == flow["id"]
    assert sent["data"]["flow_event_id"] == answer["id"]
    assert sent["data"]["payload"] == CUSTOM_EVENT["data"]
    assert sent["data"]["source"] == "custom"


def test_any_object_with_an_event_field_is_the_rest_as_data(client, org, make_flow, flow_key, run_jobs):
    flow = make_flow()
    post_to_flow(client, flow, {"event": "order.paid", "order": 17, "total": 9.5}, **{"X-API-Key": flow_key})
    run_jobs()
    assert flow_events(client, org, flow)[0]["data"] == {"order": 17, "total": 9.5}


@pytest.mark.parametrize(
    ("headers", "code", "says"),
    [
        ({}, "unauthorized", "X-API-Key"),
        ({"X-API-Key": "hy_live_not-a-key"}, "unauthorized", "not valid"),
    ],
)
def test_a_request_without_a_valid_key_is_a_401(client, make_flow, headers, code, says):
    response = post_to_flow(client, make_flow(), CUSTOM_EVENT, **headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == code
    assert says in response.get_json()["message"]


def test_only_a_flow_key_of_the_same_organization_opens_a_flow(client, org, other_org, make_flow, make_api_key):
    flow = make_flow()
    signal_key = make_api_key()["key"]
    foreign_key = make_api_key(endpoint_type="flow", headers=other_org["headers"])["key"]
    paused = make_api_key(endpoint_type="flow")
    client.patch(f"/v1/api-keys/{paused['id']}", json={"active": False}, headers=org["headers"])
    assert (
        "signal staging" in post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": signal_key}).get_json()["message"]
    )
    assert post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": foreign_key}).status_code == 401
    assert "inactive" in post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": paused["key"]}).get_json()["message"]


def test_unknown_flow_no_event_bad_json_and_wrong_type_are_clear_errors(client, make_flow, flow_key):
    flow = make_flow()
    key = {"X-API-Key": flow_key}
    unknown = client.post("/webhooks/wh_nope", json=CUSTOM_EVENT, headers=key)
    assert unknown.status_code == 404
    assert unknown.get_json()["error"] == "not_found"
    no_event = post_to_flow(client, flow, {"data": {"x": 1}}, **key)
    assert no_event.status_code == 400
    assert "event" in no_event.get_json()["errors"]
    blank = post_to_flow(client, flow, {"event": "  "}, **key)
    assert blank.status_code == 400
    assert "event" in blank.get_json()["errors"]
    broken = post_to_flow(client, flow, raw=b'{"event": ', **key)
    assert broken.status_code == 400
    assert broken.get_json()["error"] == "invalid_json"
    array = post_to_flow(client, flow, [CUSTOM_EVENT], **key)
    assert array.status_code == 400
    assert "object" in array.get_json()["message"]
    text = post_to_flow(client, flow, raw=b"event=x", **{**key, "Content-Type": "text/plain"})
    assert text.status_code == 415


def test_a_copy_that_slips_past_redis_is_still_fanned_out_once(client, org, make_flow, receiver, run_jobs, redis):
    subscribe(client, org, receiver)
    flow = make_flow(github_secret=GITHUB_SECRET)
    post_to_flow(client, flow, raw=payload_bytes("github_push.json"), **PUSH_HEADERS)
    for key in redis.scan_iter("*:seen:*"):
        redis.delete(key)  # as if the claim had expired, or two copies raced
    late = post_to_flow(client, flow, raw=payload_bytes("github_push.json"), **PUSH_HEADERS)
    assert late.get_json()["status"] == "queued"  # the request cannot know any more
    run_jobs()
    logged = {e["id"]: e for e in flow_events(client, org, flow)}
    assert logged[late.get_json()["id"]]["duplicate"] is True  # the database's unique index knows
    assert len(receiver.received()) == 1


def test_idempotency_key_and_body_id_dedupe_custom_events(client, org, make_flow, flow_key, run_jobs):
    flow = make_flow()
    key = {"X-API-Key": flow_key}
    first = post_to_flow(client, flow, CUSTOM_EVENT, **key, **{"Idempotency-Key": "k-1"})
    assert (
        post_to_flow(
            client, flow, {**CUSTOM_EVENT, "data": {"other": True}}, **key, **{"Idempotency-Key": "k-1"}
        ).get_json()["duplicate_of"]
        == first.get_json()["id"]
    )
    with_id = post_to_flow(client, flow, {"event": "invoice.created", "id": 42}, **key)
    assert post_to_flow(client, flow, {"event": "invoice.created", "id": 42}, **key).get_json()["duplicate"] is True
    no_id = [post_to_flow(client, flow, CUSTOM_EVENT, **key).get_json() for _ in range(2)]
    assert all(answer["status"] == "queued" for answer in no_id)  # nothing identifies them: both are events
    run_jobs()
    logged = flow_events(client, org, flow)
    assert sum(not e["duplicate"] for e in logged) == 4
    assert len(logged) == 6
    assert with_id.get_json()["status"] == "queued"


def test_the_rate_limit_answers_429_with_retry_after_and_counts_in_metrics(client, org, make_flow, flow_key):
    flow = make_flow(rate_limit_per_second=2)
    started = time.time()
    answers = [post_to_flow(client, flow, {"event": "tick", "n": n}, **{"X-API-Key": flow_key}) for n in range(8)]
    seconds = int(time.time()) - int(started) + 1
    limited = [a for a in answers if a.status_code == 429]
    assert limited
    assert limited[0].headers["Retry-After"] == "1"
    assert limited[0].get_json()["error"] == "rate_limited"
    assert sum(a.status_code == 200 for a in answers) <= 2 * seconds
    assert flow_metrics(client, org, flow)["rejected"]["429"] == len(limited)


def test_strangers_cannot_use_up_a_flows_rate_budget(client, org, make_flow, flow_key, redis):
    flow = make_flow(rate_limit_per_second=2)
    for _ in range(5):
        assert post_to_flow(client, flow, CUSTOM_EVENT).status_code == 401
    assert list(redis.scan_iter(f"*:flow:{flow['id']}:rate:*")) == []  # not one of them was counted
    started = int(time.time())
    answers = [
        post_to_flow(client, flow, {"event": "tick", "n": n}, **{"X-API-Key": flow_key}).status_code for n in range(2)
    ]
    if int(time.time()) == started:  # both in the second the strangers used
        assert answers == [200, 200]
    assert flow_metrics(client, org, flow)["rejected"] == {"401": 5}


def test_event_names_with_wildcards_and_overlong_idempotency_keys_are_400s(client, make_flow, flow_key):
    flow = make_flow()
    star = post_to_flow(client, flow, {"event": "order.*"}, **{"X-API-Key": flow_key})
    assert star.status_code == 400
    assert "*" in star.get_json()["errors"]["event"][0]
    long_key = post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key, "Idempotency-Key": "k" * 501})
    assert long_key.status_code == 400
    assert "Idempotency-Key" in long_key.get_json()["errors"]


def test_the_senders_timestamp_is_logged_and_forwarded(client, org, make_flow, flow_key, receiver, run_jobs):
    subscribe(client, org, receiver)
    flow = make_flow()
    post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    run_jobs()
    assert flow_events(client, org, flow)[0]["timestamp"] == CUSTOM_EVENT["timestamp"]
    assert json.loads(receiver.received()[0]["body"])["data"]["timestamp"] == CUSTOM_EVENT["timestamp"]
