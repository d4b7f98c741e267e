"""Flows through the real path: HTTP -> Redis -> worker -> database -> outbound delivery -> HTTP."""

import hashlib
import hmac
import json
import time

import pytest
import stripe
from conftest import payload, payload_bytes
from standardwebhooks.webhooks import Webhook

GITHUB_SECRET = "It's a Secret to Everybody"  # GitHub's documented test vector secret
PUSH_SIGNATURE = "sha256=8932d8769b1f990ebb7d03235a66217b1de8e48d0c626166d4e8fcac027a123d"  # payloads/README
PING_SIGNATURE = "sha256=0781a4c342e19ba538f4541868124c3fc6deb4b56ae69a04a38e6cd5c188806a"
PUSH_HEADERS = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                "X-Hub-Signature-256": PUSH_SIGNATURE, "User-Agent": "GitHub-Hookshot/044aadd",
                "Content-Type": "application/json"}
STRIPE_SECRET = "whsec_test_secret"
STALE_STRIPE_SIGNATURE = "t=1648320040,v1=1bb6b032acb2fc039354a9ed03a34479242be0e1d77a0ef433781dd85ad36c1a"
# The custom-API example: a service posting its own event with a flow key.
CUSTOM_EVENT = {"event": "user.signup", "data": {"email": "ann@example.com", "plan": "pro"},
                "timestamp": "2026-11-23T09:00:00Z"}


@pytest.fixture
def make_flow(client, org):
    def make(headers=None, **body):
        response = client.post("/v1/flows", json={"name": "CI", **body}, headers=headers or org["headers"])
        assert response.status_code == 201, response.data
        return response.get_json()

    return make


@pytest.fixture
def flow_key(make_api_key):
    return make_api_key(endpoint_type="flow")["key"]


def path_of(flow) -> str:
    return f"/webhooks/{flow['webhook_id']}"


def post(client, flow, body=None, raw=None, **headers):
    data = raw if raw is not None else json.dumps(body).encode()
    headers.setdefault("Content-Type", "application/json")
    return client.post(path_of(flow), data=data, headers=headers)


def events(client, org, flow, query=""):
    response = client.get(f"/v1/flows/{flow['id']}/events{query}", headers=org["headers"])
    assert response.status_code == 200, response.data
    return response.get_json()["events"]


def metrics(client, org, flow, window="1h"):
    response = client.get(f"/v1/flows/{flow['id']}/metrics?window={window}", headers=org["headers"])
    assert response.status_code == 200, response.data
    return response.get_json()


def subscribe(client, org, receiver, events_=("flow.*",)):
    hook = client.post("/v1/webhooks", json={"url": receiver.url(), "events": list(events_)}, headers=org["headers"])
    assert hook.status_code == 201, hook.data
    return hook.get_json()


def test_the_custom_api_example_is_queued_logged_and_delivered_signed(client, org, make_flow, flow_key, receiver,
                                                                     run_jobs):
    hook = subscribe(client, org, receiver)
    flow = make_flow()
    assert flow["webhook_url"] == f"http://localhost/webhooks/{flow['webhook_id']}"
    response = post(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    assert response.status_code == 200
    answer = response.get_json()
    assert answer == {"id": answer["id"], "status": "queued", "event": "user.signup"}
    assert answer["id"].startswith("fev_")
    assert events(client, org, flow) == []  # stored by the worker, not the request
    run_jobs()

    (logged,) = events(client, org, flow)
    assert logged["id"] == answer["id"] and logged["event"] == "user.signup" and logged["source"] == "custom"
    assert logged["status"] == "processed" and logged["duplicate"] is False and logged["verified"] is False
    assert logged["data"] == CUSTOM_EVENT["data"] and logged["received_at"].endswith("Z")
    assert logged["latency_ms"] >= 0 and logged["outbound_event_id"].startswith("evt_")
    (delivery,) = receiver.received()
    headers = {name.lower(): value for name, value in delivery["headers"].items()}
    Webhook(hook["secret"]).verify(delivery["body"], headers)  # signed as every outbound event
    sent = json.loads(delivery["body"])
    assert sent["type"] == "flow.user.signup" and sent["id"] == logged["outbound_event_id"]
    assert sent["data"]["flow_id"] == flow["id"] and sent["data"]["flow_event_id"] == answer["id"]
    assert sent["data"]["payload"] == CUSTOM_EVENT["data"] and sent["data"]["source"] == "custom"


def test_any_object_with_an_event_field_is_the_rest_as_data(client, org, make_flow, flow_key, run_jobs):
    flow = make_flow()
    post(client, flow, {"event": "order.paid", "order": 17, "total": 9.5}, **{"X-API-Key": flow_key})
    run_jobs()
    assert events(client, org, flow)[0]["data"] == {"order": 17, "total": 9.5}


@pytest.mark.parametrize(("headers", "code", "says"), [
    ({}, "unauthorized", "X-API-Key"),
    ({"X-API-Key": "hy_live_not-a-key"}, "unauthorized", "not valid"),
])
def test_a_request_without_a_valid_key_is_a_401(client, make_flow, headers, code, says):
    response = post(client, make_flow(), CUSTOM_EVENT, **headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == code and says in response.get_json()["message"]


def test_only_a_flow_key_of_the_same_organization_opens_a_flow(client, org, other_org, make_flow, make_api_key):
    flow = make_flow()
    signal_key = make_api_key()["key"]
    foreign_key = make_api_key(endpoint_type="flow", headers=other_org["headers"])["key"]
    paused = make_api_key(endpoint_type="flow")
    client.patch(f"/v1/api-keys/{paused['id']}", json={"active": False}, headers=org["headers"])
    assert "signal staging" in post(client, flow, CUSTOM_EVENT, **{"X-API-Key": signal_key}).get_json()["message"]
    assert post(client, flow, CUSTOM_EVENT, **{"X-API-Key": foreign_key}).status_code == 401
    assert "inactive" in post(client, flow, CUSTOM_EVENT, **{"X-API-Key": paused["key"]}).get_json()["message"]


def test_unknown_flow_no_event_bad_json_and_wrong_type_are_clear_errors(client, make_flow, flow_key):
    flow = make_flow()
    key = {"X-API-Key": flow_key}
    unknown = client.post("/webhooks/wh_nope", json=CUSTOM_EVENT, headers=key)
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "not_found"
    no_event = post(client, flow, {"data": {"x": 1}}, **key)
    assert no_event.status_code == 400 and "event" in no_event.get_json()["errors"]
    blank = post(client, flow, {"event": "  "}, **key)
    assert blank.status_code == 400 and "event" in blank.get_json()["errors"]
    broken = post(client, flow, raw=b'{"event": ', **key)
    assert broken.status_code == 400 and broken.get_json()["error"] == "invalid_json"
    array = post(client, flow, [CUSTOM_EVENT], **key)
    assert array.status_code == 400 and "object" in array.get_json()["message"]
    text = post(client, flow, raw=b"event=x", **{**key, "Content-Type": "text/plain"})
    assert text.status_code == 415


def test_github_push_and_ping_are_authenticated_by_their_signature_alone(client, org, make_flow, receiver, run_jobs):
    subscribe(client, org, receiver, ["flow.push", "flow.ping"])
    flow = make_flow(github_secret=GITHUB_SECRET)
    push = post(client, flow, raw=payload_bytes("github_push.json"), **PUSH_HEADERS)
    assert push.status_code == 200 and push.get_json()["event"] == "push"
    ping = post(client, flow, raw=payload_bytes("github_ping.json"), **{
        "X-GitHub-Event": "ping", "X-GitHub-Delivery": "ping-1", "X-Hub-Signature-256": PING_SIGNATURE})
    assert ping.status_code == 200 and ping.get_json()["event"] == "ping"
    run_jobs()
    logged = {e["event"]: e for e in events(client, org, flow)}
    assert logged["push"]["source"] == "github" and logged["push"]["verified"] is True
    assert logged["push"]["data"] == payload("github_push.json")
    assert logged["ping"]["data"]["zen"] == payload("github_ping.json")["zen"]
    sent = sorted(json.loads(r["body"])["type"] for r in receiver.received())
    assert sent == ["flow.ping", "flow.push"]


def test_github_with_an_api_key_too_and_a_redelivery_is_a_duplicate(client, org, make_flow, flow_key, receiver,
                                                                    run_jobs):
    subscribe(client, org, receiver)
    flow = make_flow(github_secret=GITHUB_SECRET)
    first = post(client, flow, raw=payload_bytes("github_push.json"), **PUSH_HEADERS, **{"X-API-Key": flow_key})
    again = post(client, flow, raw=payload_bytes("github_push.json"), **PUSH_HEADERS)  # "Redeliver" in GitHub
    assert first.get_json()["status"] == "queued"
    assert again.status_code == 200
    assert again.get_json() == {"id": again.get_json()["id"], "status": "duplicate", "event": "push",
                                "duplicate": True, "duplicate_of": first.get_json()["id"]}
    run_jobs()
    logged = events(client, org, flow)
    assert sorted((e["duplicate"], e["duplicate_of"]) for e in logged) == [(False, None),
                                                                           (True, first.get_json()["id"])]
    assert len(receiver.received()) == 1  # fanned out once
    assert events(client, org, flow, "?duplicate=true")[0]["status"] == "duplicate"


def test_a_copy_that_slips_past_redis_is_still_fanned_out_once(client, org, make_flow, receiver, run_jobs, redis):
    subscribe(client, org, receiver)
    flow = make_flow(github_secret=GITHUB_SECRET)
    post(client, flow, raw=payload_bytes("github_push.json"), **PUSH_HEADERS)
    for key in redis.scan_iter("*:seen:*"):
        redis.delete(key)  # as if the claim had expired, or two copies raced
    late = post(client, flow, raw=payload_bytes("github_push.json"), **PUSH_HEADERS)
    assert late.get_json()["status"] == "queued"  # the request cannot know any more
    run_jobs()
    logged = {e["id"]: e for e in events(client, org, flow)}
    assert logged[late.get_json()["id"]]["duplicate"] is True  # the database's unique index knows
    assert len(receiver.received()) == 1


@pytest.mark.parametrize("signature", [
    "sha256=" + "0" * 64,  # well formed, wrong
    "sha256=zz",  # malformed
    "sha1=b94c2c54571aca0c3a1701129aeb5a17a00252b6",  # the wrong scheme
    "",
    "sha256=" + "é" * 64,
])
def test_a_bad_github_signature_is_a_401_never_a_500(client, make_flow, flow_key, signature):
    flow = make_flow(github_secret=GITHUB_SECRET)
    response = post(client, flow, raw=payload_bytes("github_push.json"),
                    **{**PUSH_HEADERS, "X-Hub-Signature-256": signature, "X-API-Key": flow_key})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_signature"


def test_a_tampered_github_body_is_a_401(client, make_flow):
    flow = make_flow(github_secret=GITHUB_SECRET)
    body = payload_bytes("github_push.json").replace(b"Codertocat", b"Attacker")
    assert post(client, flow, raw=body, **PUSH_HEADERS).status_code == 401


def test_githubs_documented_test_vector_verifies(client, make_flow):
    from hookyard.flows.signatures import verify_github

    verify_github(GITHUB_SECRET, b"Hello, World!",
                  "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    flow = make_flow(github_secret=GITHUB_SECRET)
    response = post(client, flow, raw=b"Hello, World!", **{
        "X-GitHub-Event": "push", "X-Hub-Signature-256":
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_json"  # signed, but not JSON


def test_a_github_signature_the_flow_cannot_check_is_a_401(client, make_flow, flow_key):
    flow = make_flow()  # no github_secret
    response = post(client, flow, raw=payload_bytes("github_push.json"), **PUSH_HEADERS, **{"X-API-Key": flow_key})
    assert response.status_code == 401 and "github_secret" in response.get_json()["message"]


def test_a_form_encoded_github_delivery_is_read_from_its_payload_field(client, org, make_flow, run_jobs):
    from urllib.parse import urlencode

    flow = make_flow(github_secret=GITHUB_SECRET)
    body = urlencode({"payload": payload_bytes("github_ping.json").decode()}).encode()
    signature = "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = post(client, flow, raw=body, **{"Content-Type": "application/x-www-form-urlencoded",
                                               "X-GitHub-Event": "ping", "X-Hub-Signature-256": signature})
    assert response.status_code == 200, response.data
    run_jobs()
    assert events(client, org, flow)[0]["data"]["hook_id"] == 109948940


def stripe_headers(body: bytes, timestamp=None, secret=STRIPE_SECRET):
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)
    return {"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}


def test_a_stripe_event_signed_by_the_stripe_library_is_accepted_and_retries_deduped(client, org, make_flow,
                                                                                     receiver, run_jobs):
    subscribe(client, org, receiver, ["flow.payment_intent.succeeded"])
    flow = make_flow(stripe_secret=STRIPE_SECRET)
    body = payload_bytes("stripe_payment_intent_succeeded.json")
    response = post(client, flow, raw=body, **stripe_headers(body))
    assert response.status_code == 200, response.data
    assert response.get_json()["event"] == "payment_intent.succeeded"
    retry = post(client, flow, raw=body, **stripe_headers(body))  # Stripe retries with a fresh signature
    assert retry.get_json()["duplicate"] is True
    run_jobs()
    logged = [e for e in events(client, org, flow) if not e["duplicate"]]
    assert logged[0]["source"] == "stripe" and logged[0]["verified"] is True
    assert logged[0]["data"]["data"]["object"]["amount"] == 2000
    (sent,) = receiver.received()
    assert json.loads(sent["body"])["type"] == "flow.payment_intent.succeeded"


def test_a_stale_or_forged_stripe_signature_is_a_401(client, make_flow):
    flow = make_flow(stripe_secret=STRIPE_SECRET)
    body = payload_bytes("stripe_payment_intent_succeeded.json")
    stale = post(client, flow, raw=body, **{"Stripe-Signature": STALE_STRIPE_SIGNATURE})
    assert stale.status_code == 401 and "old" in stale.get_json()["message"]
    six_minutes_ago = post(client, flow, raw=body, **stripe_headers(body, timestamp=int(time.time()) - 360))
    assert six_minutes_ago.status_code == 401
    forged = post(client, flow, raw=body, **stripe_headers(body, secret="whsec_someone_else"))
    assert forged.status_code == 401 and "does not match" in forged.get_json()["message"]
    for malformed in ("garbage", "t=,v1=", "t=abc,v1=" + "0" * 64, f"t={int(time.time())}", "t=²,v1=00"):
        answer = post(client, flow, raw=body, **{"Stripe-Signature": malformed})
        assert answer.status_code == 401, malformed


def test_our_stripe_check_agrees_with_the_stripe_library():
    from hookyard.flows.signatures import SignatureError, verify_stripe

    body = payload_bytes("stripe_payment_intent_succeeded.json")
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), STRIPE_SECRET)
    stripe.WebhookSignature.verify_header(body, header, STRIPE_SECRET, tolerance=300)
    verify_stripe(STRIPE_SECRET, body, header)
    rolled = header + ",v1=" + "0" * 64  # two v1 while a secret rolls: one matching is enough
    verify_stripe(STRIPE_SECRET, body, rolled)
    with pytest.raises(SignatureError):
        verify_stripe(STRIPE_SECRET, body + b" ", header)
    verify_stripe(STRIPE_SECRET, body, STALE_STRIPE_SIGNATURE, now=1648320040 + 299)  # the fixture, in its time


def test_a_flow_with_a_secret_needs_x_event_signature_with_the_key(client, org, make_flow, flow_key, run_jobs):
    flow = make_flow(secret=True)
    secret = flow["secret"]
    assert secret.startswith("whsec_") and flow["has_secret"] is True
    assert client.get(f"/v1/flows/{flow['id']}", headers=org["headers"]).get_json()["secret"] is None
    body = json.dumps(CUSTOM_EVENT).encode()
    unsigned = post(client, flow, raw=body, **{"X-API-Key": flow_key})
    assert unsigned.status_code == 401 and unsigned.get_json()["error"] == "signature_required"
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    wrong = post(client, flow, raw=body, **{"X-API-Key": flow_key, "X-Event-Signature": "0" * 64})
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_signature"
    signed_without_key = post(client, flow, raw=body, **{"X-Event-Signature": signature})
    assert signed_without_key.status_code == 401  # the signature proves integrity; the key authenticates
    signed = post(client, flow, raw=body, **{"X-API-Key": flow_key, "X-Event-Signature": signature})
    assert signed.status_code == 200, signed.data
    run_jobs()
    assert events(client, org, flow)[0]["verified"] is True


def test_idempotency_key_and_body_id_dedupe_custom_events(client, org, make_flow, flow_key, run_jobs):
    flow = make_flow()
    key = {"X-API-Key": flow_key}
    first = post(client, flow, CUSTOM_EVENT, **key, **{"Idempotency-Key": "k-1"})
    assert post(client, flow, {**CUSTOM_EVENT, "data": {"other": True}}, **key,
                **{"Idempotency-Key": "k-1"}).get_json()["duplicate_of"] == first.get_json()["id"]
    with_id = post(client, flow, {"event": "invoice.created", "id": 42}, **key)
    assert post(client, flow, {"event": "invoice.created", "id": 42}, **key).get_json()["duplicate"] is True
    no_id = [post(client, flow, CUSTOM_EVENT, **key).get_json() for _ in range(2)]
    assert all(answer["status"] == "queued" for answer in no_id)  # nothing identifies them: both are events
    run_jobs()
    logged = events(client, org, flow)
    assert sum(not e["duplicate"] for e in logged) == 4 and len(logged) == 6
    assert with_id.get_json()["status"] == "queued"


def test_a_claim_stored_twice_after_a_crash_logs_and_publishes_nothing_twice(client, org, make_flow, flow_key,
                                                                               receiver, run_jobs, redis):
    subscribe(client, org, receiver)
    flow = make_flow()
    post(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    (item,) = redis.lrange("hy:flows:buffer", 0, -1)
    run_jobs()
    # A drain job that died after its commit but before deleting its claim: the sweep gives the claim
    # back to the buffer and the next drain stores it again.
    redis.rpush("hy:flows:processing:gone-job", item)
    from hookyard.core.queues import make_queues
    from hookyard.signals.buffer import SignalKeys
    from worker import sweep_flows

    sweep_flows(redis, SignalKeys("hy"), make_queues(redis)["ingest"])
    assert redis.llen("hy:flows:buffer") == 1 and not redis.exists("hy:flows:processing:gone-job")
    run_jobs()
    assert len(events(client, org, flow)) == 1 and len(receiver.received()) == 1
    assert redis.llen("hy:flows:buffer") == 0


def test_a_bad_item_is_set_aside_and_the_rest_of_its_claim_stored(client, org, make_flow, flow_key, run_jobs, redis):
    flow = make_flow()
    post(client, flow, {"event": "before"}, **{"X-API-Key": flow_key})
    redis.rpush("hy:flows:buffer", b"\n{not json")
    post(client, flow, {"event": "after"}, **{"X-API-Key": flow_key})
    run_jobs()
    assert sorted(e["event"] for e in events(client, org, flow)) == ["after", "before"]
    (dead,) = redis.lrange("hy:flows:dead-letter", 0, -1)
    assert json.loads(dead)["item"] == "\n{not json"


def test_the_rate_limit_answers_429_with_retry_after_and_counts_in_metrics(client, org, make_flow, flow_key):
    flow = make_flow(rate_limit_per_second=2)
    started = time.time()
    answers = [post(client, flow, {"event": "tick", "n": n}, **{"X-API-Key": flow_key}) for n in range(8)]
    seconds = int(time.time()) - int(started) + 1
    limited = [a for a in answers if a.status_code == 429]
    assert limited and limited[0].headers["Retry-After"] == "1"
    assert limited[0].get_json()["error"] == "rate_limited"
    assert sum(a.status_code == 200 for a in answers) <= 2 * seconds
    assert metrics(client, org, flow)["rejected"]["429"] == len(limited)


def test_metrics_count_accepted_rejected_and_failed_deliveries(client, org, make_flow, flow_key, receiver, run_jobs):
    for path, events_ in (("/ok", ["flow.*"]), ("/gone", ["flow.order.failed"])):
        client.post("/v1/webhooks", json={"url": receiver.url(path), "events": events_}, headers=org["headers"])
    # /gone answers 410: that delivery fails for good at once.
    receiver.answer = lambda request: (410, b"gone", 0, {}) if request["path"] == "/gone" else (200, b"ok", 0, {})
    flow = make_flow()
    empty = metrics(client, org, flow)
    assert empty["event_volume"] == 0 and empty["error_rate"] is None and empty["latency_ms"]["p50"] is None
    for n, event in enumerate(("order.paid", "order.paid", "order.failed")):
        post(client, flow, {"event": event, "n": n}, **{"X-API-Key": flow_key})
    post(client, flow, {"event": "order.paid"})  # 401
    post(client, flow, {"data": {}}, **{"X-API-Key": flow_key})  # 400
    run_jobs()

    shown = metrics(client, org, flow)
    assert shown["window"] == "1h" and shown["accepted"] == 3 and shown["rejected"] == {"400": 1, "401": 1}
    assert shown["event_volume"] == 5 and shown["failed_deliveries"] == 1
    assert len(receiver.received("/ok")) == 3 and len(receiver.received("/gone")) == 1
    assert shown["error_rate"] == pytest.approx(3 / 5, abs=1e-4)
    assert shown["success_rate"] == pytest.approx(2 / 5, abs=1e-4)
    latency = shown["latency_ms"]
    assert 0 <= latency["p50"] <= latency["p95"] <= latency["p99"]
    assert sum(point["count"] for point in shown["series"]) == 5
    assert sum(point["errors"] for point in shown["series"]) == 3
    assert len(shown["series"]) == 60 and shown["series"][-1]["t"].endswith(":00.000Z")  # the last 60 minutes
    for window in ("2h", "24h", "7d"):
        assert len(metrics(client, org, flow, window)["series"]) <= 120
    bad = client.get(f"/v1/flows/{flow['id']}/metrics?window=8d", headers=org["headers"])
    assert bad.status_code == 400 and "window" in bad.get_json()["errors"]
    assert client.get(f"/v1/flows/{flow['id']}/metrics?window=soon", headers=org["headers"]).status_code == 400


def test_the_event_log_filters_and_pages(client, org, make_flow, flow_key, run_jobs):
    flow = make_flow()
    for n in range(3):
        post(client, flow, {"event": "a", "n": n}, **{"X-API-Key": flow_key})
    post(client, flow, {"event": "b"}, **{"X-API-Key": flow_key})
    run_jobs()
    assert [e["event"] for e in events(client, org, flow, "?event=b")] == ["b"]
    assert events(client, org, flow, "?source=github") == []
    assert len(events(client, org, flow, "?since=2000-01-01T00:00:00Z")) == 4
    assert events(client, org, flow, "?until=2000-01-01T00:00:00Z") == []
    first = client.get(f"/v1/flows/{flow['id']}/events?limit=3", headers=org["headers"]).get_json()
    rest = client.get(f"/v1/flows/{flow['id']}/events?limit=3&cursor={first['next_cursor']}",
                      headers=org["headers"]).get_json()
    assert len(first["events"]) == 3 and len(rest["events"]) == 1 and rest["next_cursor"] is None
    assert {e["id"] for e in first["events"]} | {rest["events"][0]["id"]} == {e["id"] for e in events(client, org,
                                                                                                       flow)}
    bad = client.get(f"/v1/flows/{flow['id']}/events?source=gitlab", headers=org["headers"])
    assert bad.status_code == 400 and "source" in bad.get_json()["errors"]


def test_flows_are_created_listed_changed_paused_and_deleted(client, org, other_org, make_flow, flow_key):
    flow = make_flow(github_secret=GITHUB_SECRET, rate_limit_per_second=5)
    assert flow["secret"] is None and flow["has_github_secret"] is True and flow["has_stripe_secret"] is False
    assert flow["rate_limit_per_second"] == 5 and flow["active"] is True and flow["webhook_id"].startswith("wh_")
    assert len(flow["webhook_id"]) >= 32
    assert GITHUB_SECRET not in json.dumps(client.get("/v1/flows", headers=org["headers"]).get_json())
    listed = client.get("/v1/flows", headers=org["headers"]).get_json()
    assert [f["id"] for f in listed["flows"]] == [flow["id"]] and listed["next_cursor"] is None

    rotated = client.patch(f"/v1/flows/{flow['id']}", json={"secret": True, "github_secret": None, "name": "Repo"},
                           headers=org["headers"]).get_json()
    assert rotated["secret"].startswith("whsec_") and rotated["has_github_secret"] is False
    assert rotated["name"] == "Repo" and rotated["webhook_id"] == flow["webhook_id"]
    paused = client.patch(f"/v1/flows/{flow['id']}", json={"active": False}, headers=org["headers"]).get_json()
    assert paused["active"] is False and paused["has_secret"] is True
    refused = post(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    assert refused.status_code == 404 and refused.get_json()["error"] == "flow_paused"

    bad = client.post("/v1/flows", json={"name": "", "rate_limit_per_second": 0, "github_secret": "short"},
                      headers=org["headers"])
    assert bad.status_code == 400 and set(bad.get_json()["errors"]) == {"name", "rate_limit_per_second",
                                                                         "github_secret"}
    for method in ("get", "patch", "delete"):
        answer = getattr(client, method)(f"/v1/flows/{flow['id']}", json={}, headers=other_org["headers"])
        assert answer.status_code == 404
    assert client.get(f"/v1/flows/{flow['id']}/events", headers=other_org["headers"]).status_code == 404
    assert client.delete(f"/v1/flows/{flow['id']}", headers=org["headers"]).status_code == 204
    assert post(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key}).status_code == 404


def test_the_playground_sends_through_your_own_flow_only(client, org, other_org, make_flow, receiver, run_jobs):
    subscribe(client, org, receiver)
    flow = make_flow()
    tried = client.post("/api/playground/test", json={"webhookUrl": flow["webhook_url"], "payload": CUSTOM_EVENT},
                        headers=org["headers"])
    assert tried.status_code == 200, tried.data
    result = tried.get_json()
    assert result["status"] == 200 and result["response"]["status"] == "queued" and result["latency_ms"] >= 0
    run_jobs()
    assert events(client, org, flow)[0]["id"] == result["response"]["id"]
    assert len(receiver.received()) == 1

    no_event = client.post("/api/playground/test", json={"webhookUrl": flow["webhook_url"], "payload": {"x": 1}},
                           headers=org["headers"]).get_json()
    assert no_event["status"] == 400 and no_event["response"]["error"] == "validation_failed"
    github = client.post("/api/playground/test", json={
        "webhookUrl": flow["webhook_url"], "payload": payload("github_ping.json"),
        "headers": {"X-GitHub-Event": "ping"}}, headers=org["headers"]).get_json()
    assert github["status"] == 200 and github["response"]["event"] == "ping"

    foreign = make_flow(headers=other_org["headers"])
    for url in (foreign["webhook_url"], receiver.url(), f"http://evil.example/webhooks/{flow['webhook_id']}",
                flow["webhook_url"] + "?x=1", "not a url", "file:///etc/passwd"):
        refused = client.post("/api/playground/test", json={"webhookUrl": url, "payload": CUSTOM_EVENT},
                              headers=org["headers"])
        assert refused.status_code == 400 and refused.get_json()["error"] == "not_a_flow_url", url
    assert len(receiver.received()) == 1  # nothing was fetched
    assert client.post("/api/playground/test", json={"webhookUrl": flow["webhook_url"], "payload": {}}
                       ).status_code == 401
    assert client.post("/api/playground/test", json={"payload": {}}, headers=org["headers"]).status_code == 400


def test_strangers_cannot_use_up_a_flows_rate_budget(client, org, make_flow, flow_key, redis):
    flow = make_flow(rate_limit_per_second=2)
    for _ in range(5):
        assert post(client, flow, CUSTOM_EVENT).status_code == 401
    assert list(redis.scan_iter(f"*:flow:{flow['id']}:rate:*")) == []  # not one of them was counted
    started = int(time.time())
    answers = [post(client, flow, {"event": "tick", "n": n}, **{"X-API-Key": flow_key}).status_code
               for n in range(2)]
    if int(time.time()) == started:  # both in the second the strangers used
        assert answers == [200, 200]
    assert metrics(client, org, flow)["rejected"] == {"401": 5}


def test_event_names_with_wildcards_and_overlong_idempotency_keys_are_400s(client, make_flow, flow_key):
    flow = make_flow()
    star = post(client, flow, {"event": "order.*"}, **{"X-API-Key": flow_key})
    assert star.status_code == 400 and "*" in star.get_json()["errors"]["event"][0]
    long_key = post(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key, "Idempotency-Key": "k" * 501})
    assert long_key.status_code == 400 and "Idempotency-Key" in long_key.get_json()["errors"]


def test_the_senders_timestamp_is_logged_and_forwarded(client, org, make_flow, flow_key, receiver, run_jobs):
    subscribe(client, org, receiver)
    flow = make_flow()
    post(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    run_jobs()
    assert events(client, org, flow)[0]["timestamp"] == CUSTOM_EVENT["timestamp"]
    assert json.loads(receiver.received()[0]["body"])["data"]["timestamp"] == CUSTOM_EVENT["timestamp"]


def test_nul_characters_are_400s_or_404s_never_500s(client, org, make_flow, flow_key):
    flow = make_flow()
    assert client.post("/webhooks/wh_%00abcdefghij", json=CUSTOM_EVENT,
                       headers={"X-API-Key": flow_key}).status_code in (400, 404)
    assert client.get("/v1/flows/flow_%00", headers=org["headers"]).status_code == 400
    assert client.get(f"/v1/flows/{flow['id']}/events?event=%00", headers=org["headers"]).status_code == 400
    named = client.post("/v1/flows", json={"name": "a\u0000b"}, headers=org["headers"])
    assert named.status_code == 400 and "name" in named.get_json()["errors"]
    rule = client.post("/v1/mapping-rules", json={"name": "x", "signal_name": "\u0000"}, headers=org["headers"])
    assert rule.status_code == 400 and "signal_name" in rule.get_json()["errors"]
    played = client.post("/api/playground/test", json={"webhookUrl": flow["webhook_url"] + "\u0000",
                                                       "payload": CUSTOM_EVENT}, headers=org["headers"])
    assert played.status_code == 400


@pytest.mark.parametrize("cursor", ["WyIyMDI2LTAxLTAxVDAwOjAwOjAwIixbMSwyXV0",  # ["2026-01-01T00:00:00",[1,2]]
                                    "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwiYVx1MDAwMCJd",  # ["2026-...","a\u0000"]
                                    "WzEsMl0", "bm9wZQ"])
def test_a_tampered_cursor_is_a_400(client, org, make_flow, cursor):
    flow = make_flow()
    for path in ("/v1/flows", f"/v1/flows/{flow['id']}/events"):
        response = client.get(f"{path}?cursor={cursor}", headers=org["headers"])
        assert response.status_code == 400 and response.get_json()["error"] == "invalid_cursor", path


def test_playground_headers_with_line_breaks_are_a_400(client, org, make_flow):
    flow = make_flow()
    for headers in ({"X-GitHub-Event": "a\nb"}, {"Bad Name": "x"}, {"X-Nul": "\u0000"}):
        response = client.post("/api/playground/test", json={"webhookUrl": flow["webhook_url"],
                                                             "payload": CUSTOM_EVENT, "headers": headers},
                               headers=org["headers"])
        assert response.status_code == 400 and "headers" in response.get_json()["errors"], headers


def test_events_of_a_flow_deleted_after_accepting_them_are_dropped_quietly(client, org, make_flow, flow_key,
                                                                           run_jobs, redis):
    doomed, kept = make_flow(), make_flow()
    post(client, doomed, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    post(client, kept, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    client.delete(f"/v1/flows/{doomed['id']}", headers=org["headers"])
    run_jobs()
    assert len(events(client, org, kept)) == 1  # the rest of the claim is stored as usual
    assert redis.llen("hy:flows:dead-letter") == 0 and redis.llen("hy:flows:buffer") == 0


def test_a_long_drain_hands_over_to_a_fresh_job(client, org, make_flow, flow_key, run_jobs, monkeypatch, redis):
    from rq.registry import FinishedJobRegistry

    import worker
    from hookyard.core.queues import INGEST_QUEUE
    from hookyard.flows import store as flow_store

    monkeypatch.setattr(flow_store, "CLAIM_SIZE", 1)
    monkeypatch.setattr(worker, "DRAIN_BUDGET", 0)  # every drain stops after its first claim
    flow = make_flow()
    for n in range(3):
        post(client, flow, {"event": "tick", "n": n}, **{"X-API-Key": flow_key})
    run_jobs()
    assert sorted(event["data"]["n"] for event in events(client, org, flow)) == [0, 1, 2]  # none lost
    drains = [job for job in FinishedJobRegistry(INGEST_QUEUE, connection=redis).get_job_ids()
              if worker.Job.fetch(job, connection=redis).func_name == "worker.drain_flow_events"]
    assert len(drains) == 3  # one drain per claim, each handing the rest to the next


def test_a_drain_that_runs_out_of_time_keeps_its_claim_for_the_retry(client, org, make_flow, flow_key, run_jobs,
                                                                    monkeypatch, redis):
    from rq.timeouts import JobTimeoutException

    from hookyard.flows import store as flow_store

    real, calls = flow_store.store_flow_events, []

    def slow_once(envelopes, max_attempts):
        calls.append(len(envelopes))
        if len(calls) == 1:
            raise JobTimeoutException("Task exceeded maximum timeout value (600 seconds)")
        return real(envelopes, max_attempts)

    monkeypatch.setattr(flow_store, "store_flow_events", slow_once)
    flow = make_flow()
    post(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key, "Idempotency-Key": "once"})
    run_jobs()  # the first run fails; RQ's retry runs the same job, which finds its claim
    assert len(events(client, org, flow)) == 1
    assert redis.llen("hy:flows:dead-letter") == 0


def test_a_set_aside_event_releases_its_claim_so_the_senders_retry_gets_in(client, org, make_flow, flow_key,
                                                                         run_jobs, monkeypatch, redis):
    from hookyard.flows import store as flow_store

    def broken(envelopes, max_attempts):
        raise ValueError("cannot store this")

    flow = make_flow()
    with monkeypatch.context() as patch:
        patch.setattr(flow_store, "store_flow_events", broken)
        post(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key, "Idempotency-Key": "retry-me"})
        run_jobs()
    assert redis.llen("hy:flows:dead-letter") == 1
    retry = post(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key, "Idempotency-Key": "retry-me"})
    assert retry.get_json()["status"] == "queued"  # not answered as a duplicate of the lost one
    run_jobs()
    assert len(events(client, org, flow)) == 1


def test_a_recovered_claim_goes_back_in_its_order(redis):
    from hookyard.signals.buffer import ADOPT_SCRIPT

    redis.rpush("claim", *[str(n) for n in range(2500)])
    redis.rpush("buffer", "later")
    assert redis.eval(ADOPT_SCRIPT, 2, "claim", "buffer") == 2500
    assert [v.decode() for v in redis.lrange("buffer", 0, -1)] == [str(n) for n in range(2500)] + ["later"]
