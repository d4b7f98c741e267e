"""Outbound webhooks end to end: API -> queue -> worker -> a real local HTTP receiver -> delivery log."""

import datetime
import hashlib
import hmac
import itertools
import json
import signal
import time

import pytest
from standardwebhooks.webhooks import Webhook

from hookyard.core.config import Config


def create_webhook(client, org, receiver, path="/hook", **body):
    response = client.post("/v1/webhooks", json={"url": receiver.url(path), "events": ["*"], **body},
                           headers=org["headers"])
    assert response.status_code == 201, response.data
    return response.get_json()


def publish(client, org, event_type="user.created", data=None, **body):
    response = client.post("/v1/events", json={"type": event_type, "data": data or {"id": 1}, **body},
                           headers=org["headers"])
    assert response.status_code == 202, response.data
    return response.get_json()


def deliveries(client, org, hook_id, status=None):
    query = f"?status={status}" if status else ""
    return client.get(f"/v1/webhooks/{hook_id}/deliveries{query}", headers=org["headers"]).get_json()["deliveries"]


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_a_webhook_gets_a_standard_webhooks_secret_shown_again_only_at_secret(client, org, receiver):
    hook = create_webhook(client, org, receiver, description="CRM")
    assert hook["id"].startswith("hook_") and hook["secret"].startswith("whsec_")
    assert hook["events"] == ["*"] and hook["active"] is True and hook["created_at"].endswith("Z")
    shown = client.get(f"/v1/webhooks/{hook['id']}", headers=org["headers"]).get_json()
    assert "secret" not in shown and shown["description"] == "CRM"
    secret = client.get(f"/v1/webhooks/{hook['id']}/secret", headers=org["headers"]).get_json()["secret"]
    assert secret == hook["secret"]
    assert [h["id"] for h in client.get("/v1/webhooks", headers=org["headers"]).get_json()["webhooks"]] == [hook["id"]]


def test_secrets_are_stored_encrypted(client, org, receiver):
    from models import Endpoint

    hook = create_webhook(client, org, receiver, secret="my-own-secret-123")
    assert hook["secret"] == "my-own-secret-123"
    assert "my-own-secret-123" not in Endpoint.get_by_id(hook["id"]).secret_encrypted


def test_unknown_event_types_and_bad_urls_are_400s_naming_the_field(client, org):
    response = client.post("/v1/webhooks", json={"url": "ftp://example.com/x", "events": ["user.created", "nope",
                                                                                          "bogus.*"]},
                           headers=org["headers"])
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert set(errors) == {"url", "events"} and len(errors["events"]) == 2


def test_patterns_and_event_types_are_listed(client, org):
    names = {t["name"] for t in client.get("/v1/event-types", headers=org["headers"]).get_json()["event_types"]}
    assert {"user.created", "signal.received", "lead.identified", "webhook.test", "flow.*"} <= names
    for events in (["lead.*"], ["flow.*"], ["flow.push"], ["*"]):
        assert client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": events},
                           headers=org["headers"]).status_code == 201


def test_update_and_delete_a_webhook(client, org, receiver, other_org):
    hook = create_webhook(client, org, receiver)
    changed = client.patch(f"/v1/webhooks/{hook['id']}", json={"events": ["lead.*"], "active": False},
                           headers=org["headers"]).get_json()
    assert changed["events"] == ["lead.*"] and changed["active"] is False
    assert client.get(f"/v1/webhooks/{hook['id']}", headers=other_org["headers"]).status_code == 404
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=other_org["headers"]).status_code == 404
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=org["headers"]).status_code == 204
    assert client.get(f"/v1/webhooks/{hook['id']}", headers=org["headers"]).status_code == 404


def test_an_event_is_delivered_signed_both_ways(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    event = publish(client, org, "payment.succeeded", {"amount": 2000, "currency": "usd"})
    assert event["id"].startswith("evt_") and event["created_at"].endswith("Z")
    run_jobs()
    (request,) = receiver.received()
    body = request["body"]
    assert json.loads(body) == {"id": event["id"], "type": "payment.succeeded", "created_at": event["created_at"],
                                "data": {"amount": 2000, "currency": "usd"}}
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["content-type"] == "application/json" and headers["user-agent"].startswith("Hookyard/")
    expected = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-webhook-signature"], expected)
    assert headers["webhook-id"] == event["id"]
    assert Webhook(hook["secret"]).verify(body, headers) == json.loads(body)
    (delivery,) = deliveries(client, org, hook["id"])
    assert delivery["status"] == "success" and delivery["attempts"] == 1 and delivery["status_code"] == 200
    assert delivery["event_id"] == event["id"] and delivery["id"].startswith("del_")


def test_a_plain_secret_signs_both_headers_with_its_bytes(client, org, receiver, run_jobs):
    create_webhook(client, org, receiver, secret="plain-secret-value")
    publish(client, org)
    run_jobs()
    (request,) = receiver.received()
    headers = {k.lower(): v for k, v in request["headers"].items()}
    expected = hmac.new(b"plain-secret-value", request["body"], hashlib.sha256).hexdigest()
    assert headers["x-webhook-signature"] == expected
    Webhook(b"plain-secret-value").verify(request["body"], headers)


def test_publishing_the_same_id_twice_delivers_once(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    first = publish(client, org, id="order-42")
    second = publish(client, org, id="order-42")
    assert first == second
    run_jobs()
    assert len(receiver.received()) == 1 and len(deliveries(client, org, hook["id"])) == 1


def test_only_subscribed_types_are_delivered(client, org, receiver, run_jobs):
    create_webhook(client, org, receiver, path="/leads", events=["lead.*"])
    create_webhook(client, org, receiver, path="/users", events=["user.created"])
    publish(client, org, "user.created")
    publish(client, org, "user.deleted")
    run_jobs()
    assert [json.loads(r["body"])["type"] for r in receiver.received("/users")] == ["user.created"]
    assert receiver.received("/leads") == []


def test_an_unknown_event_type_cannot_be_published(client, org):
    response = client.post("/v1/events", json={"type": "nope", "data": {}}, headers=org["headers"])
    assert response.status_code == 400 and "type" in response.get_json()["errors"]


def test_the_test_endpoint_sends_webhook_test_to_that_webhook_only(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver, path="/a")
    create_webhook(client, org, receiver, path="/b")
    answer = client.post(f"/v1/webhooks/{hook['id']}/test", headers=org["headers"]).get_json()
    run_jobs()
    (request,) = receiver.received()
    assert request["path"] == "/a" and json.loads(request["body"])["type"] == "webhook.test"
    assert json.loads(request["body"])["id"] == answer["event_id"]
    delivery = client.get(f"/v1/deliveries/{answer['delivery_id']}", headers=org["headers"]).get_json()
    assert delivery["status"] == "success" and len(delivery["attempt_log"]) == 1
    attempt = delivery["attempt_log"][0]
    assert attempt["status_code"] == 200 and attempt["response"] == '{"ok": true}' and attempt["duration_ms"] >= 0


def test_the_attempt_log_keeps_the_first_2_kb_of_the_response(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    receiver.answer = lambda request: (500, b"x" * 100_000, 0, {})
    publish(client, org)
    run_jobs()
    (delivery,) = deliveries(client, org, hook["id"])
    detail = client.get(f"/v1/deliveries/{delivery['id']}", headers=org["headers"]).get_json()
    assert len(detail["attempt_log"][0]["response"]) == 2048 and detail["status"] == "retrying"
    assert detail["error"] == "HTTP 500" and detail["next_attempt_at"].endswith("Z")


def test_a_redirect_is_not_followed_and_counts_as_a_failure(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    receiver.answer = lambda request: (302, b"", 0, {"Location": "http://169.254.169.254/"})
    publish(client, org)
    run_jobs()
    (delivery,) = deliveries(client, org, hook["id"])
    assert delivery["status"] == "retrying" and "redirect" in delivery["error"]
    assert len(receiver.received()) == 1


def test_410_gone_disables_the_webhook(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    receiver.answer = lambda request: (410, b"gone", 0, {})
    publish(client, org)
    run_jobs()
    shown = client.get(f"/v1/webhooks/{hook['id']}", headers=org["headers"]).get_json()
    assert shown["active"] is False and "410" in shown["disabled_reason"]
    assert deliveries(client, org, hook["id"])[0]["status"] == "failed"
    publish(client, org)
    run_jobs()
    assert len(receiver.received()) == 1


@pytest.mark.slow
def test_the_retry_schedule_runs_to_success_and_to_failure(client, org, receiver, worker_process):
    flaky = create_webhook(client, org, receiver, path="/flaky", events=["user.created"])
    dead = create_webhook(client, org, receiver, path="/dead", events=["user.created"])
    calls = {"n": 0}

    def answer(request):
        if request["path"] == "/dead":
            return 503, b"down", 0, {}
        calls["n"] += 1
        return (500, b"not yet", 0, {}) if calls["n"] <= 2 else (200, b"ok", 0, {})

    receiver.answer = answer
    publish(client, org)
    worker_process()
    wait_until(lambda: [d["status"] for d in deliveries(client, org, dead["id"])] == ["failed"], timeout=40)
    (ok,) = deliveries(client, org, flaky["id"])
    assert ok["status"] == "success" and ok["attempts"] == 3
    (failed,) = deliveries(client, org, dead["id"])
    assert failed["attempts"] == 5 and failed["next_attempt_at"] is None
    assert len(receiver.received("/dead")) == 5 and len(receiver.received("/flaky")) == 3
    detail = client.get(f"/v1/deliveries/{failed['id']}", headers=org["headers"]).get_json()
    starts = [datetime.datetime.fromisoformat(a["started_at"].rstrip("Z")) for a in detail["attempt_log"]]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # RETRY_SCHEDULE=1,1,1,1 between attempts
    ids = {r["headers"]["webhook-id"] for r in receiver.received("/dead")}
    assert len(ids) == 1  # the same webhook-id on every retry


def test_a_failed_delivery_can_be_retried_by_hand_and_replayed(client, org, receiver, run_jobs):
    from models import Delivery

    hook = create_webhook(client, org, receiver)
    publish(client, org)
    run_jobs()
    (delivery,) = deliveries(client, org, hook["id"])
    Delivery.update(status="failed").where(Delivery.id == delivery["id"]).execute()  # as after the last attempt
    receiver.answer = lambda request: (500, b"still down", 0, {})
    assert client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=org["headers"]).status_code == 202
    run_jobs()
    again = client.get(f"/v1/deliveries/{delivery['id']}", headers=org["headers"]).get_json()
    assert again["status"] == "failed" and again["attempts"] == 2  # one manual attempt, no new schedule
    receiver.answer = lambda request: (200, b"back", 0, {})
    response = client.post(f"/v1/webhooks/{hook['id']}/replay", headers=org["headers"],
                           json={"since": "2020-01-01T00:00:00Z", "status": "failed"})
    assert response.get_json() == {"status": "queued", "matching": 1}
    run_jobs()
    final = client.get(f"/v1/deliveries/{delivery['id']}", headers=org["headers"]).get_json()
    assert final["status"] == "success" and final["attempts"] == 3 and len(receiver.received()) == 3


def test_after_rotation_both_secrets_sign_for_a_day(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    rotated = client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=org["headers"]).get_json()
    assert rotated["secret"] != hook["secret"] and rotated["previous_secret_expires_at"].endswith("Z")
    publish(client, org)
    run_jobs()
    (request,) = receiver.received()
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(hook["secret"]).verify(request["body"], headers)
    Webhook(rotated["secret"]).verify(request["body"], headers)
    assert headers["x-webhook-signature"] == hmac.new(rotated["secret"].encode(), request["body"],
                                                      hashlib.sha256).hexdigest()


def test_a_hanging_receiver_does_not_hold_up_the_others(app, config, client, org, receiver):
    from worker import make_worker

    slow_hook = create_webhook(client, org, receiver, path="/slow", events=["user.created"])
    create_webhook(client, org, receiver, path="/fast", events=["user.created"])
    receiver.answer = lambda request: (200, b"ok", 5 if request["path"] == "/slow" else 0, {})
    for n in range(20):
        publish(client, org, data={"n": n})
    started = time.time()
    # A long schedule, so this run makes one attempt each and stops.
    make_worker(Config(**{**config.__dict__, "retry_schedule": (60, 60, 60, 60)}), connection=app.redis).work(
        burst=True)
    fast = receiver.received("/fast")
    assert len(fast) == 20 and max(r["at"] for r in fast) - started < 1.5  # done while /slow still hangs
    slow = deliveries(client, org, slow_hook["id"])
    assert len(slow) == 20 and all(d["status"] == "retrying" and "timed out" in d["error"].lower() for d in slow)


@pytest.mark.slow
def test_sigterm_mid_backlog_stops_within_the_timeout_and_leaves_the_rest_due(app, client, org, receiver,
                                                                            worker_process):
    hook = create_webhook(client, org, receiver, path="/slow")
    receiver.answer = lambda request: (200, b"ok", 1.5, {})  # 64 at a time: 200 take ~5 s
    for n in range(200):
        publish(client, org, data={"n": n})
    process = worker_process()
    wait_until(lambda: len(receiver.received("/slow")) >= 10)
    process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - started < 2 + 2  # in-flight sends end within DELIVERY_TIMEOUT (2 s)
    sent = len(receiver.received("/slow"))
    assert sent < 200
    # What was not sent is still due and not leased: the next worker sends it at once, and each once.
    worker_process()
    listing = f"/v1/webhooks/{hook['id']}/deliveries?status=success&limit=500"
    wait_until(lambda: len(client.get(listing, headers=org["headers"]).get_json()["deliveries"]) == 200, timeout=30)
    bodies = [json.loads(r["body"])["data"]["n"] for r in receiver.received("/slow")]
    assert sorted(bodies) == list(range(200))


def test_a_response_dribbling_past_the_deadline_fails(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    receiver.answer = lambda request: (200, b"ok", 3, {})  # headers come after 3 s; timeout is 2 s
    publish(client, org)
    started = time.monotonic()
    run_jobs()
    assert time.monotonic() - started < 4
    (delivery,) = deliveries(client, org, hook["id"])
    assert delivery["status"] == "retrying" and "timed out" in delivery["error"].lower()


def test_stored_signals_publish_signal_and_lead_events(client, org, receiver, run_jobs, signal_key):
    create_webhook(client, org, receiver, events=["signal.received", "lead.*"])
    client.post(f"/api/signal-staging/webhook/{signal_key}", json={"email": "new@x.io", "event": "Trial Started"})
    run_jobs()
    events = {json.loads(r["body"])["type"]: json.loads(r["body"])["data"] for r in receiver.received()}
    assert set(events) == {"signal.received", "lead.created"}
    assert events["signal.received"]["email"] == "new@x.io" and events["lead.created"]["email"] == "new@x.io"


SSRF_FORMS = ["http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/",
              "http://[::ffff:7f00:1]/", "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/",
              "http://[64:ff9b::7f00:1]/", "http://224.0.0.1/", "http://100.64.0.1/", "http://10.1.2.3/",
              "http://[::1]/", "http://0.0.0.0/", "http://[2002:7f00:1::]/", "gopher://example.com/",
              "file:///etc/passwd"]


@pytest.fixture
def strict_client(config, redis):
    """An app that refuses private networks, as production does."""
    from app import create_app

    return create_app(Config(**{**config.__dict__, "webhook_allow_private_networks": False})).test_client()


@pytest.mark.parametrize("url", SSRF_FORMS)
def test_private_and_metadata_addresses_are_refused_at_creation(strict_client, org, url):
    response = strict_client.post("/v1/webhooks", json={"url": url, "events": ["*"]}, headers=org["headers"])
    assert response.status_code == 400 and "url" in response.get_json()["errors"], url


def test_metadata_stays_refused_when_private_networks_are_allowed(client, org):
    response = client.post("/v1/webhooks", json={"url": "http://169.254.169.254/", "events": ["*"]},
                           headers=org["headers"])
    assert response.status_code == 400


def test_a_host_that_turns_private_at_delivery_is_refused_then(client, org, receiver, run_jobs, config, monkeypatch,
                                                               strict_client):
    import worker
    from hookyard.outbound import url_safety

    port = receiver.server.server_address[1]
    answers = iter([["93.184.215.14"]])
    monkeypatch.setattr(url_safety, "resolve_addresses", lambda host, p: next(answers, ["127.0.0.1"]))
    hook = strict_client.post("/v1/webhooks", json={"url": f"http://rebind.example:{port}/", "events": ["*"]},
                              headers=org["headers"]).get_json()
    assert hook["id"].startswith("hook_")
    monkeypatch.setattr(worker, "config", Config(**{**config.__dict__, "webhook_allow_private_networks": False}))
    publish(client, org)
    from worker import make_worker

    make_worker(Config(**{**config.__dict__, "webhook_allow_private_networks": False}),
                connection=client.application.redis).work(burst=True)
    (delivery,) = deliveries(client, org, hook["id"])
    assert receiver.received() == [] and "127.0.0.1" in delivery["error"] and "loopback" in delivery["error"]
