"""Outbound deliveries end to end: API -> queue -> worker -> a real local HTTP receiver -> delivery log."""

import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time

import pytest
from standardwebhooks.webhooks import Webhook

from hookyard.core.config import Config
from tests.helpers import create_webhook, deliveries, publish_event


def test_an_event_is_delivered_signed_both_ways(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    event = publish_event(client, org, "payment.succeeded", {"amount": 2000, "currency": "usd"})
    assert event["id"].startswith("evt_")
    assert event["created_at"].endswith("Z")
    run_jobs()
    (request,) = receiver.received()
    body = request["body"]
    assert json.loads(body) == {
        "id": event["id"],
        "type": "payment.succeeded",
        "created_at": event["created_at"],
        "data": {"amount": 2000, "currency": "usd"},
    }
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("Hookyard/")
    expected = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-webhook-signature"], expected)
    assert headers["webhook-id"] == event["id"]
    assert Webhook(hook["secret"]).verify(body, headers) == json.loads(body)
    (delivery,) = deliveries(client, org, hook["id"])
    assert delivery["status"] == "success"
    assert delivery["attempts"] == 1
    assert delivery["status_code"] == 200
    assert delivery["event_id"] == event["id"]
    assert delivery["id"].startswith("del_")


def test_a_plain_secret_signs_both_headers_with_its_bytes(client, org, receiver, run_jobs):
    create_webhook(client, org, receiver, secret="plain-secret-value")
    publish_event(client, org)
    run_jobs()
    (request,) = receiver.received()
    headers = {k.lower(): v for k, v in request["headers"].items()}
    expected = hmac.new(b"plain-secret-value", request["body"], hashlib.sha256).hexdigest()
    assert headers["x-webhook-signature"] == expected
    Webhook(b"plain-secret-value").verify(request["body"], headers)


def test_publishing_the_same_id_twice_delivers_once(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    first = publish_event(client, org, id="order-42")
    second = publish_event(client, org, id="order-42")
    assert first == second
    run_jobs()
    assert len(receiver.received()) == 1
    assert len(deliveries(client, org, hook["id"])) == 1


def test_only_subscribed_types_are_delivered(client, org, receiver, run_jobs):
    create_webhook(client, org, receiver, path="/leads", events=["lead.*"])
    create_webhook(client, org, receiver, path="/users", events=["user.created"])
    publish_event(client, org, "user.created")
    publish_event(client, org, "user.deleted")
    run_jobs()
    assert [json.loads(r["body"])["type"] for r in receiver.received("/users")] == ["user.created"]
    assert receiver.received("/leads") == []


def test_the_test_endpoint_sends_webhook_test_to_that_webhook_only(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver, path="/a")
    create_webhook(client, org, receiver, path="/b")
    answer = client.post(f"/v1/webhooks/{hook['id']}/test", headers=org["headers"]).get_json()
    run_jobs()
    (request,) = receiver.received()
    assert request["path"] == "/a"
    assert json.loads(request["body"])["type"] == "webhook.test"
    assert json.loads(request["body"])["id"] == answer["event_id"]
    delivery = client.get(f"/v1/deliveries/{answer['delivery_id']}", headers=org["headers"]).get_json()
    assert delivery["status"] == "success"
    assert len(delivery["attempt_log"]) == 1
    attempt = delivery["attempt_log"][0]
    assert attempt["status_code"] == 200
    assert attempt["response"] == '{"ok": true}'
    assert attempt["duration_ms"] >= 0


def test_the_attempt_log_keeps_the_first_2_kb_of_the_response(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    receiver.answer = lambda request: (500, b"x" * 100_000, 0, {})
    publish_event(client, org)
    run_jobs()
    (delivery,) = deliveries(client, org, hook["id"])
    detail = client.get(f"/v1/deliveries/{delivery['id']}", headers=org["headers"]).get_json()
    assert len(detail["attempt_log"][0]["response"]) == 2048
    assert detail["status"] == "retrying"
    assert detail["error"] == "HTTP 500"
    assert detail["next_attempt_at"].endswith("Z")


def test_a_redirect_is_not_followed_and_counts_as_a_failure(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    receiver.answer = lambda request: (302, b"", 0, {"Location": "http://169.254.169.254/"})
    publish_event(client, org)
    run_jobs()
    (delivery,) = deliveries(client, org, hook["id"])
    assert delivery["status"] == "retrying"
    assert "redirect" in delivery["error"]
    assert len(receiver.received()) == 1


def test_410_gone_disables_the_webhook(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    receiver.answer = lambda request: (410, b"gone", 0, {})
    publish_event(client, org)
    run_jobs()
    shown = client.get(f"/v1/webhooks/{hook['id']}", headers=org["headers"]).get_json()
    assert shown["active"] is False
    assert "410" in shown["disabled_reason"]
    assert deliveries(client, org, hook["id"])[0]["status"] == "failed"
    publish_event(client, org)
    run_jobs()
    assert len(receiver.received()) == 1


def test_a_failed_delivery_can_be_retried_by_hand_and_replayed(client, org, receiver, run_jobs):
    from models import Delivery

    hook = create_webhook(client, org, receiver)
    publish_event(client, org)
    run_jobs()
    (delivery,) = deliveries(client, org, hook["id"])
    Delivery.update(status="failed").where(Delivery.id == delivery["id"]).execute()  # as after the last attempt
    receiver.answer = lambda request: (500, b"still down", 0, {})
    assert client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=org["headers"]).status_code == 202
    run_jobs()
    again = client.get(f"/v1/deliveries/{delivery['id']}", headers=org["headers"]).get_json()
    assert again["status"] == "failed"
    assert again["attempts"] == 2  # one manual attempt, no new schedule
    receiver.answer = lambda request: (200, b"back", 0, {})
    response = client.post(
        f"/v1/webhooks/{hook['id']}/replay",
        headers=org["headers"],
        json={"since": "2020-01-01T00:00:00Z", "status": "failed"},
    )
    assert response.get_json() == {"status": "queued", "matching": 1}
    run_jobs()
    final = client.get(f"/v1/deliveries/{delivery['id']}", headers=org["headers"]).get_json()
    assert final["status"] == "success"
    assert final["attempts"] == 3
    sent = [json.loads(request["body"])["type"] for request in receiver.received()]
    assert sent.count("user.created") == 3
    assert sent.count("delivery.exhausted") == 1  # the manual retry failed for good, once; "*" hears that too


def test_after_rotation_both_secrets_sign_for_a_day(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    rotated = client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=org["headers"]).get_json()
    assert rotated["secret"] != hook["secret"]
    assert rotated["previous_secret_expires_at"].endswith("Z")
    publish_event(client, org)
    run_jobs()
    (request,) = receiver.received()
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(hook["secret"]).verify(request["body"], headers)
    Webhook(rotated["secret"]).verify(request["body"], headers)
    assert (
        headers["x-webhook-signature"]
        == hmac.new(rotated["secret"].encode(), request["body"], hashlib.sha256).hexdigest()
    )


def test_a_hanging_receiver_does_not_hold_up_the_others(app, config, client, org, receiver):
    from worker import make_worker

    slow_hook = create_webhook(client, org, receiver, path="/slow", events=["user.created"])
    create_webhook(client, org, receiver, path="/fast", events=["user.created"])
    receiver.answer = lambda request: (200, b"ok", 5 if request["path"] == "/slow" else 0, {})
    for n in range(20):
        publish_event(client, org, data={"n": n})
    started = time.time()
    # A long schedule, so this run makes one attempt each and stops.
    make_worker(Config(**{**config.__dict__, "retry_schedule": (60, 60, 60, 60)}), connection=app.redis).work(
        burst=True
    )
    fast = receiver.received("/fast")
    assert len(fast) == 20
    assert max(r["at"] for r in fast) - started < 1.5  # done while /slow still hangs
    slow = deliveries(client, org, slow_hook["id"])
    assert len(slow) == 20
    assert [d["status"] for d in slow] == ["retrying"] * 20
    assert all("timed out" in d["error"].lower() for d in slow), [d["error"] for d in slow]


def test_a_response_dribbling_past_the_deadline_fails(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    receiver.answer = lambda request: (200, b"ok", 3, {})  # headers come after 3 s; timeout is 2 s
    publish_event(client, org)
    started = time.monotonic()
    run_jobs()
    assert time.monotonic() - started < 4
    (delivery,) = deliveries(client, org, hook["id"])
    assert delivery["status"] == "retrying"
    assert "timed out" in delivery["error"].lower()


def test_stored_signals_publish_signal_and_lead_events(client, org, receiver, run_jobs, signal_key):
    create_webhook(client, org, receiver, events=["signal.received", "lead.*"])
    client.post(f"/api/signal-staging/webhook/{signal_key}", json={"email": "new@x.io", "event": "Trial Started"})
    run_jobs()
    events = {json.loads(r["body"])["type"]: json.loads(r["body"])["data"] for r in receiver.received()}
    assert set(events) == {"signal.received", "lead.created"}
    assert events["signal.received"]["email"] == "new@x.io"
    assert events["lead.created"]["email"] == "new@x.io"


def test_a_host_that_turns_private_at_delivery_is_refused_then(
    client, org, receiver, run_jobs, config, monkeypatch, strict_client
):
    from hookyard.outbound import url_safety

    port = receiver.server.server_address[1]
    answers = iter([["93.184.215.14"]])
    monkeypatch.setattr(url_safety, "resolve_addresses", lambda host, p: next(answers, ["127.0.0.1"]))
    hook = strict_client.post(
        "/v1/webhooks", json={"url": f"http://rebind.example:{port}/", "events": ["*"]}, headers=org["headers"]
    ).get_json()
    assert hook["id"].startswith("hook_")
    publish_event(client, org)
    from worker import make_worker

    make_worker(
        Config(**{**config.__dict__, "webhook_allow_private_networks": False}), connection=client.application.redis
    ).work(burst=True)
    (delivery,) = deliveries(client, org, hook["id"])
    assert receiver.received() == []
    assert "127.0.0.1" in delivery["error"]
    assert "loopback" in delivery["error"]


class TricklingReceiver:
    """A server that answers `head` at once, then one byte of `tail` every half second: never quite done."""

    def __init__(self, head: bytes, tail: bytes):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.head, self.tail, self.stop = head, tail, threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while not self.stop.is_set():
                connection, _ = self.server.accept()
                threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection) -> None:
        with connection, contextlib.suppress(OSError):
            connection.recv(65536)
            connection.sendall(self.head)
            for byte in self.tail:
                if self.stop.wait(0.5):
                    return
                connection.sendall(bytes([byte]))

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@pytest.mark.parametrize(
    ("head", "tail"),
    [
        (b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 200 + b"\r\n\r\n"),  # headers that never end
        (b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n", b"a" * 200),  # a body that never ends
    ],
)
def test_an_exchange_still_running_at_the_delivery_timeout_is_a_failed_attempt(client, org, run_jobs, head, tail):
    receiver = TricklingReceiver(head, tail)
    try:
        hook = client.post("/v1/webhooks", json={"url": receiver.url(), "events": ["*"]}, headers=org["headers"])
        publish_event(client, org)
        started = time.monotonic()
        run_jobs()
        assert time.monotonic() - started < 6  # DELIVERY_TIMEOUT is 2 s in the tests
        (delivery,) = deliveries(client, org, hook.get_json()["id"])
        assert delivery["status"] == "retrying"
        assert delivery["attempts"] == 1
        assert delivery["error"].startswith("timed out")
    finally:
        receiver.close()
