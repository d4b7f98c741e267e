"""Segment's Tracking API under /segment, driven by the real SDKs (segment-analytics-python, rudder-sdk-python)."""

import base64
import datetime
import gzip
import json

import pytest
import requests
from segment.analytics import Client
from segment.analytics.request import APIError

from tests.helpers import api_get, grew, lead_by_email, payload, scrape


@pytest.fixture
def segment_host(live_server):
    return live_server + "/segment"


def sdk(key: str, host: str, **options) -> Client:
    return Client(write_key=key, host=host, sync_mode=True, max_retries=0, **options)


def signals(client, org, query=""):
    return api_get(client, org, f"/v1/signals?limit=500{query}")["signals"]


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_every_call_of_the_segment_sdk_lands_as_a_segment_signal(
    client, org, signal_key, segment_host, run_jobs, compressed
):
    analytics = sdk(signal_key, segment_host, gzip=compressed)
    traits = {"email": "ann@x.io", "name": "Ann Lee", "company": "Initech", "title": "CTO"}
    analytics.identify(
        "user-1", traits, anonymous_id="anon-1", timestamp=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    )
    analytics.track(
        "user-1", "Trial Started", {"plan": "pro"}, timestamp=datetime.datetime(2026, 1, 3, tzinfo=datetime.UTC)
    )
    analytics.page("user-1", "Docs", "Quickstart", {"path": "/docs"})
    analytics.screen("user-1", "App", "Home")
    analytics.group("user-1", "group-7", {"name": "Initech"})
    analytics.alias("old-user-1", "user-1")  # an id the user had before
    run_jobs()
    stored = signals(client, org)
    assert sorted(s["event"] for s in stored) == sorted(
        ["identify", "Trial Started", "page_view", "screen_view", "group", "alias"]
    )
    assert {s["source"] for s in stored} == {"segment"}
    lead = lead_by_email(client, org, "ann@x.io")
    assert (lead["name"], lead["company"], lead["title"]) == ("Ann Lee", "Initech", "CTO")
    assert lead["user_ids"] == ["user-1", "old-user-1"]
    assert lead["anonymous_ids"] == ["anon-1", "old-user-1"]  # a previousId may have been either: linked as both
    assert lead["signal_count"] == 6
    assert lead["first_seen"] == "2026-01-02T03:04:05.000Z"  # the sender's time, not the receipt's
    track = next(s for s in stored if s["event"] == "Trial Started")
    assert track["timestamp"] == "2026-01-03T00:00:00.000Z"
    assert "writeKey" not in json.dumps(track["payload"])


def test_anonymous_page_views_wait_cold_until_an_identify_names_them(client, org, signal_key, segment_host, run_jobs):
    analytics = sdk(signal_key, segment_host)
    analytics.page(anonymous_id="visitor-9", name="Pricing")
    analytics.page(anonymous_id="visitor-9", name="Signup")
    run_jobs()
    assert [s["cold_storage"] for s in signals(client, org)] == [True, True]
    analytics.identify("user-9", {"email": "bo@x.io"}, anonymous_id="visitor-9")
    run_jobs()
    lead = lead_by_email(client, org, "bo@x.io")
    pages = signals(client, org, "&event=page_view")
    assert [(s["cold_storage"], s["lead_id"]) for s in pages] == [(False, lead["id"])] * 2
    assert lead["signal_count"] == 3


def test_a_wrong_write_key_is_refused_and_nothing_is_stored(client, org, segment_host, run_jobs):
    with pytest.raises(APIError) as refused:
        sdk("hy_live_not-a-key", segment_host).track("user-1", "Signed Up")
    assert refused.value.status == 401
    run_jobs()
    assert signals(client, org) == []


def test_a_key_with_a_secret_is_used_as_key_colon_secret(client, org, make_api_key, segment_host, run_jobs):
    created = make_api_key(secret=True)
    with pytest.raises(APIError):
        sdk(created["key"], segment_host).track("user-1", "No Secret")
    sdk(f"{created['key']}:{created['secret']}", segment_host).track("user-1", "With Secret")
    run_jobs()
    assert [s["event"] for s in signals(client, org)] == ["With Secret"]


def test_the_rudderstack_sdk_lands_too(client, org, signal_key, segment_host, run_jobs):
    from rudderstack.analytics.client import Client as RudderClient

    rudder = RudderClient(write_key=signal_key, host=segment_host, sync_mode=True, max_retries=0)
    rudder.identify("user-4", {"email": "cy@x.io"}, anonymous_id="anon-4")
    rudder.track("user-4", "Order Completed", {"total": 12})
    run_jobs()
    lead = lead_by_email(client, org, "cy@x.io")
    assert lead["signal_count"] == 2
    assert {s["source"] for s in signals(client, org)} == {"segment"}


def basic(key: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_segments_limits_are_400s_naming_them(signal_key, segment_host):
    big_call = {"type": "track", "userId": "u", "event": "Big", "properties": {"blob": "x" * 40_000}}
    answer = requests.post(f"{segment_host}/v1/track", json=big_call, headers=basic(signal_key), timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"] == "call_too_large"
    calls = [{"type": "track", "userId": "u", "event": "E", "properties": {"blob": "x" * 20_000}}] * 30
    answer = requests.post(f"{segment_host}/v1/batch", json={"batch": calls}, headers=basic(signal_key), timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"] == "batch_too_large"
    bomb = gzip.compress(json.dumps({"batch": calls}).encode())  # small on the wire, over the limit inflated
    answer = requests.post(
        f"{segment_host}/v1/batch",
        data=bomb,
        headers={**basic(signal_key), "Content-Encoding": "gzip", "Content-Type": "application/json"},
        timeout=10,
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "batch_too_large")
    answer = requests.post(
        f"{segment_host}/v1/batch", data=b"not gzip", headers={**basic(signal_key), "Content-Encoding": "gzip"}
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_gzip")


def test_a_batch_stores_its_good_calls_and_names_the_refused_ones(client, org, signal_key, segment_host, run_jobs):
    batch = payload("segment_batch.json")  # Segment's own example: no messageId, writeKey in the body
    batch["batch"].append({"type": "track", "event": "Nobody"})  # neither anonymousId nor userId
    batch["batch"].append({"type": "purchase", "userId": "u"})
    batch["writeKey"] = signal_key
    before = scrape(client)
    answer = requests.post(f"{segment_host}/v1/batch", json=batch, timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is True
    assert body["accepted"] == len(batch["batch"]) - 2
    assert [(r["index"], r["error"]["error"]) for r in body["rejected"]] == [
        (len(batch["batch"]) - 2, "invalid_call"),
        (len(batch["batch"]) - 1, "invalid_call"),
    ]
    after = scrape(client)
    assert grew(before, after, "hookyard_signals_accepted_total") == body["accepted"]
    assert grew(before, after, "hookyard_signals_rejected_total", reason="invalid_call") == 2
    run_jobs()
    stored = signals(client, org)
    assert len(stored) == body["accepted"]
    assert {s["source"] for s in stored} == {"segment"}
