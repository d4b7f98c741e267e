"""Segment calls at the staging webhook: with or without messageId, PUT and PATCH, X-Signature, delete."""

import hashlib
import hmac

import pytest

from tests.helpers import SIGNAL_WEBHOOK, api_get, lead_by_email, payload, post_signal, segment_call


def signals(client, org, query=""):
    return api_get(client, org, f"/v1/signals?limit=500{query}")["signals"]


def test_segments_own_http_api_example_resolves_identities_without_message_ids(client, org, signal_key, run_jobs):
    answer = client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=payload("segment_batch.json"))
    assert answer.status_code == 202
    assert {row["source"] for row in answer.get_json()["signals"]} == {"segment"}
    run_jobs()
    jake = lead_by_email(client, org, "jake@yahoo.com")
    assert jake["name"] == "Jake Peterson"
    assert jake["traits"]["age"] == 26
    assert jake["user_ids"] == ["019mr8mf4r"]
    assert jake["signal_count"] == 2  # the track call found the lead through its userId: not cold
    assert jake["first_seen"] == "2012-12-02T00:30:08.276Z"
    assert jake["last_seen"] == "2012-12-02T00:30:12.984Z"
    assert [s["cold_storage"] for s in signals(client, org, "&event=Song Played")] == [False, False]


def test_a_segment_call_without_message_id_is_deduped_by_its_content(client, org, signal_key, run_jobs):
    call = {"type": "track", "userId": "u-1", "event": "Clicked", "timestamp": "2026-01-01T00:00:00Z"}
    first = post_signal(client, signal_key, call).get_json()["id"]
    again = post_signal(client, signal_key, call).get_json()["id"]
    other = post_signal(client, signal_key, {**call, "timestamp": "2026-01-01T00:00:01Z"}).get_json()["id"]
    run_jobs()
    assert api_get(client, org, f"/v1/signals/{again}") == {"id": again, "status": "duplicate", "duplicate_of": first}
    assert api_get(client, org, f"/v1/signals/{other}")["status"] == "processed"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_segment_actions_may_send_with_put_or_patch(client, org, signal_key, run_jobs, method):
    send = getattr(client, method)
    assert send(f"{SIGNAL_WEBHOOK}/{signal_key}", json=segment_call("segment_track.json", "m-1")).status_code == 202
    assert send(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=[{"email": "a@x.io"}]).status_code == 202
    run_jobs()
    assert len(signals(client, org)) == 2


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def test_x_signature_under_the_keys_secret_stands_in_for_x_api_secret(client, org, make_api_key, run_jobs):
    created = make_api_key(secret=True)
    body = b'{"type": "track", "userId": "u-1", "event": "Signed"}'
    url = f"{SIGNAL_WEBHOOK}/{created['key']}"

    def post(**headers):
        return client.post(url, data=body, content_type="application/json", headers=headers)

    assert post(**{"X-Signature": sign(created["secret"], body)}).status_code == 202
    wrong = post(**{"X-Signature": sign(created["secret"], body + b" ")})
    assert wrong.status_code == 401
    assert "X-Signature" in wrong.get_json()["message"]
    assert post(**{"X-Signature": "é" * 40}).status_code == 401
    assert post().status_code == 401
    assert post(**{"X-Api-Secret": created["secret"]}).status_code == 202
    run_jobs()
    assert len(signals(client, org)) == 2


def test_a_delete_call_erases_the_users_lead_signals_and_ids(client, org, signal_key, run_jobs):
    identify = segment_call("segment_identify.json", "m-identify", userId="507f191e81", anonymousId="anon-7")
    page = segment_call("segment_page.json", "m-page", userId=None, anonymousId="anon-7")
    for call in (identify, page):
        assert post_signal(client, signal_key, call).status_code == 202
    post_signal(client, signal_key, {"email": "other@x.io", "event": "Kept"})
    run_jobs()
    email = identify["traits"]["email"].lower()
    assert lead_by_email(client, org, email)["signal_count"] == 2
    deleted = post_signal(client, signal_key, payload("segment_delete.json")).get_json()["id"]
    run_jobs()
    assert lead_by_email(client, org, email) is None
    remaining = signals(client, org)
    assert sorted(s["event"] for s in remaining) == ["Kept", "delete"]
    record = api_get(client, org, f"/v1/signals/{deleted}")
    assert (record["source"], record["user_id"], record["lead_id"], record["cold_storage"]) == (
        "segment",
        "507f191e81",
        None,
        False,
    )
    # The user starts afresh: a later identify makes a new lead, without the erased history.
    post_signal(client, signal_key, segment_call("segment_identify.json", "m-again", userId="507f191e81"))
    run_jobs()
    assert lead_by_email(client, org, email)["signal_count"] == 1
