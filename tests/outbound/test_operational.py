"""Operational events end to end: delivery.exhausted, webhook.disabled (410, or 5 days failing on a fake clock),
import.completed and flow.rate_limited reach the subscribers, once each, and never loop."""

import datetime
import json

import pytest

from hookyard.core.clock import utcnow
from hookyard.core.config import Config
from tests.conftest import ENCRYPTION_KEY
from tests.helpers import CUSTOM_EVENT, SIGNAL_BULK, create_webhook, deliveries, post_to_flow, publish_event


@pytest.fixture
def config(database_url, redis_url):
    """Two immediate retries: a delivery is exhausted within one run of the worker."""
    return Config.from_env(
        {},
        database_url=database_url,
        redis_url=redis_url,
        retry_schedule=(0, 0),
        delivery_timeout=2.0,
        webhook_allow_private_networks=True,
        encryption_key=ENCRYPTION_KEY,
    )


def operations_hook(client, org, receiver, events=("*",)):
    """An endpoint that hears operational events, on a path of its own."""
    return create_webhook(client, org, receiver, path="/ops", events=list(events))


def heard(receiver, event_type=None) -> list[dict]:
    bodies = [json.loads(request["body"]) for request in receiver.received("/ops")]
    return [body for body in bodies if event_type is None or body["type"] == event_type]


def failing(receiver, status=500):
    receiver.answer = lambda request: (status, b"no", 0, {}) if request["path"] == "/down" else (200, b"ok", 0, {})


def endpoint(client, org, hook_id) -> dict:
    return client.get(f"/v1/webhooks/{hook_id}", headers=org["headers"]).get_json()


def test_a_delivery_that_fails_its_last_attempt_is_announced_once(client, org, receiver, run_jobs):
    down = create_webhook(client, org, receiver, path="/down", events=["*"])  # hears its own exhaustion too
    operations_hook(client, org, receiver, events=["delivery.exhausted"])
    failing(receiver)
    event = publish_event(client, org)
    run_jobs()
    (delivery,) = [d for d in deliveries(client, org, down["id"]) if d["event_id"] == event["id"]]
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 3
    (notice,) = heard(receiver, "delivery.exhausted")
    assert notice["data"] == {
        "delivery_id": delivery["id"],
        "endpoint_id": down["id"],
        "event_id": event["id"],
        "event_type": "user.created",
        "attempts": 3,
        "status_code": 500,
        "error": "HTTP 500",
    }
    # The exhaustion event's own delivery to /down failed for good too, and raised nothing more.
    exhausted = [d for d in deliveries(client, org, down["id"]) if d["event_id"] == notice["id"]]
    assert [d["status"] for d in exhausted] == ["failed"]
    run_jobs()
    assert len(heard(receiver, "delivery.exhausted")) == 1


def test_an_endpoint_answering_410_is_disabled_and_announced(client, org, receiver, run_jobs):
    down = create_webhook(client, org, receiver, path="/down", events=["user.created"])
    operations_hook(client, org, receiver, events=["webhook.disabled"])
    failing(receiver, status=410)
    publish_event(client, org)
    run_jobs()
    shown = endpoint(client, org, down["id"])
    assert shown["active"] is False
    assert shown["disabled_reason"].startswith("answered 410 Gone at ")
    (notice,) = heard(receiver, "webhook.disabled")
    assert notice["data"]["endpoint_id"] == down["id"]
    assert notice["data"]["url"] == down["url"]
    assert notice["data"]["reason"] == shown["disabled_reason"]


class FakeClock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += datetime.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    """The clock the dispatcher, its job and publishing read, moved by the test."""
    fake = FakeClock()
    for module in ("hookyard.outbound.dispatch", "hookyard.outbound.jobs", "hookyard.outbound.publish"):
        monkeypatch.setattr(f"{module}.utcnow", fake)
    return fake


def test_an_endpoint_failing_every_attempt_for_5_days_is_disabled_and_one_success_resets_the_clock(
    client, org, receiver, run_jobs, clock
):
    down = create_webhook(client, org, receiver, path="/down", events=["user.created"])
    operations_hook(client, org, receiver, events=["webhook.disabled"])
    failing(receiver)
    publish_event(client, org)
    run_jobs()
    assert endpoint(client, org, down["id"])["failing_since"] is not None
    clock.advance(days=4, hours=23)
    publish_event(client, org)
    run_jobs()
    assert endpoint(client, org, down["id"])["active"] is True  # 4 days 23 hours: not yet
    receiver.answer = lambda request: (200, b"ok", 0, {})
    publish_event(client, org)
    run_jobs()
    assert endpoint(client, org, down["id"])["failing_since"] is None  # one success resets the clock
    failing(receiver)
    clock.advance(hours=2)  # 5 days 1 hour after the first failure, but only just failing again
    publish_event(client, org)
    run_jobs()
    assert endpoint(client, org, down["id"])["active"] is True
    assert heard(receiver, "webhook.disabled") == []
    clock.advance(days=5)
    publish_event(client, org)
    run_jobs()
    shown = endpoint(client, org, down["id"])
    assert shown["active"] is False
    assert shown["disabled_reason"].startswith("failed every attempt for 5 days")
    (notice,) = heard(receiver, "webhook.disabled")
    assert notice["data"]["endpoint_id"] == down["id"]
    # Re-enabled by its owner, it starts with a clean clock.
    client.patch(f"/v1/webhooks/{down['id']}", json={"active": True}, headers=org["headers"])
    again = endpoint(client, org, down["id"])
    assert again["active"] is True and again["failing_since"] is None and again["disabled_reason"] is None


def test_a_finished_import_is_announced_with_its_totals(client, org, signal_key, receiver, run_jobs):
    operations_hook(client, org, receiver, events=["import.completed"])
    rows = [{"email": f"i{n % 3}@x.io", "event": "Imported"} for n in range(5)] + ["not a signal"]
    answer = client.post(f"{SIGNAL_BULK}/{signal_key}", json={"signals": rows}).get_json()
    run_jobs()
    (notice,) = heard(receiver, "import.completed")
    data = notice["data"]
    assert data["id"] == answer["import_id"]
    assert (data["status"], data["total"], data["processed"], data["failed"]) == (
        "done",
        5,
        5,
        1,
    )  # total: rows accepted; failed: the one refused
    assert data["finished_at"].endswith("Z")


def test_the_first_rate_limited_request_of_a_minute_is_announced_once(
    client, org, make_flow, flow_key, receiver, run_jobs
):
    operations_hook(client, org, receiver, events=["flow.rate_limited"])
    flow = make_flow(rate_limit_per_second=1)
    answers = [post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key}).status_code for _ in range(6)]
    refused = answers.count(429)
    assert refused >= 4  # six within at most two seconds, one allowed in each
    run_jobs()
    notices = heard(receiver, "flow.rate_limited")
    minutes = {notice["data"]["minute"] for notice in notices}
    assert 1 <= len(notices) == len(minutes) <= 2  # once per minute, however many were refused
    assert notices[0]["data"]["flow_id"] == flow["id"]
    assert notices[0]["data"]["rate_limit_per_second"] == 1


def test_operational_event_types_are_in_the_catalogue_and_cannot_be_claimed(client, org):
    for name in ("delivery.exhausted", "webhook.disabled", "import.completed", "signal.dead_lettered"):
        shown = client.get(f"/v1/event-types/{name}", headers=org["headers"])
        assert shown.status_code == 200, name
        made = client.post("/v1/event-types", json={"name": name}, headers=org["headers"])
        assert made.status_code in (400, 409), name


def test_pointing_a_failing_endpoint_elsewhere_starts_its_failures_afresh(client, org, receiver, run_jobs):
    down = create_webhook(client, org, receiver, path="/down", events=["user.created"])
    failing(receiver)
    publish_event(client, org)
    run_jobs()
    assert endpoint(client, org, down["id"])["failing_since"] is not None
    moved = client.patch(f"/v1/webhooks/{down['id']}", json={"url": receiver.url("/fixed")}, headers=org["headers"])
    assert moved.status_code == 200
    assert endpoint(client, org, down["id"])["failing_since"] is None
