"""Flow senders that sign: GitHub and Stripe deliveries, and a flow's own X-Event-Signature."""

import hashlib
import hmac
import json
import time

import pytest
import stripe

from tests.helpers import (
    CUSTOM_EVENT,
    GITHUB_SECRET,
    PING_SIGNATURE,
    PUSH_HEADERS,
    STALE_STRIPE_SIGNATURE,
    STRIPE_SECRET,
    flow_events,
    payload,
    payload_bytes,
    post_to_flow,
    subscribe,
)


def test_github_push_and_ping_are_authenticated_by_their_signature_alone(client, org, make_flow, receiver, run_jobs):
    subscribe(client, org, receiver, ["flow.push", "flow.ping"])
    flow = make_flow(github_secret=GITHUB_SECRET)
    push = post_to_flow(client, flow, raw=payload_bytes("github_push.json"), **PUSH_HEADERS)
    assert push.status_code == 200
    assert push.get_json()["event"] == "push"
    ping = post_to_flow(
        client,
        flow,
        raw=payload_bytes("github_ping.json"),
        **{"X-GitHub-Event": "ping", "X-GitHub-Delivery": "ping-1", "X-Hub-Signature-256": PING_SIGNATURE},
    )
    assert ping.status_code == 200
    assert ping.get_json()["event"] == "ping"
    run_jobs()
    logged = {e["event"]: e for e in flow_events(client, org, flow)}
    assert logged["push"]["source"] == "github"
    assert logged["push"]["verified"] is True
    assert logged["push"]["data"] == payload("github_push.json")
    assert logged["ping"]["data"]["zen"] == payload("github_ping.json")["zen"]
    sent = sorted(json.loads(r["body"])["type"] for r in receiver.received())
    assert sent == ["flow.ping", "flow.push"]


def test_github_with_an_api_key_too_and_a_redelivery_is_a_duplicate(
    client, org, make_flow, flow_key, receiver, run_jobs
):
    subscribe(client, org, receiver)
    flow = make_flow(github_secret=GITHUB_SECRET)
    first = post_to_flow(client, flow, raw=payload_bytes("github_push.json"), **PUSH_HEADERS, **{"X-API-Key": flow_key})
    again = post_to_flow(client, flow, raw=payload_bytes("github_push.json"), **PUSH_HEADERS)  # "Redeliver" in GitHub
    assert first.get_json()["status"] == "queued"
    assert again.status_code == 200
    assert again.get_json() == {
        "id": again.get_json()["id"],
        "status": "duplicate",
        "event": "push",
        "duplicate": True,
        "duplicate_of": first.get_json()["id"],
    }
    run_jobs()
    logged = flow_events(client, org, flow)
    assert sorted((e["duplicate"], e["duplicate_of"]) for e in logged) == [
        (False, None),
        (True, first.get_json()["id"]),
    ]
    assert len(receiver.received()) == 1  # fanned out once
    assert flow_events(client, org, flow, "?duplicate=true")[0]["status"] == "duplicate"


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "0" * 64,  # well formed, wrong
        "sha256=zz",  # malformed
        "sha1=b94c2c54571aca0c3a1701129aeb5a17a00252b6",  # the wrong scheme
        "",
        "sha256=" + "é" * 64,
    ],
)
def test_a_bad_github_signature_is_a_401_never_a_500(client, make_flow, flow_key, signature):
    flow = make_flow(github_secret=GITHUB_SECRET)
    response = post_to_flow(
        client,
        flow,
        raw=payload_bytes("github_push.json"),
        **{**PUSH_HEADERS, "X-Hub-Signature-256": signature, "X-API-Key": flow_key},
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_signature"


def test_a_tampered_github_body_is_a_401(client, make_flow):
    flow = make_flow(github_secret=GITHUB_SECRET)
    body = payload_bytes("github_push.json").replace(b"Codertocat", b"Attacker")
    assert post_to_flow(client, flow, raw=body, **PUSH_HEADERS).status_code == 401


def test_githubs_documented_test_vector_verifies(client, make_flow):
    from hookyard.flows.signatures import verify_github

    verify_github(
        GITHUB_SECRET, b"Hello, World!", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    flow = make_flow(github_secret=GITHUB_SECRET)
    response = post_to_flow(
        client,
        flow,
        raw=b"Hello, World!",
        **{
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        },
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_json"  # signed, but not JSON


def test_a_github_signature_the_flow_cannot_check_is_a_401(client, make_flow, flow_key):
    flow = make_flow()  # no github_secret
    response = post_to_flow(
        client, flow, raw=payload_bytes("github_push.json"), **PUSH_HEADERS, **{"X-API-Key": flow_key}
    )
    assert response.status_code == 401
    assert "github_secret" in response.get_json()["message"]


def test_a_form_encoded_github_delivery_is_read_from_its_payload_field(client, org, make_flow, run_jobs):
    from urllib.parse import urlencode

    flow = make_flow(github_secret=GITHUB_SECRET)
    body = urlencode({"payload": payload_bytes("github_ping.json").decode()}).encode()
    signature = "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = post_to_flow(
        client,
        flow,
        raw=body,
        **{
            "Content-Type": "application/x-www-form-urlencoded",
            "X-GitHub-Event": "ping",
            "X-Hub-Signature-256": signature,
        },
    )
    assert response.status_code == 200, response.data
    run_jobs()
    assert flow_events(client, org, flow)[0]["data"]["hook_id"] == 109948940


def stripe_headers(body: bytes, timestamp=None, secret=STRIPE_SECRET):
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)
    return {
        "Stripe-Signature": header,
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }


def test_a_stripe_event_signed_by_the_stripe_library_is_accepted_and_retries_deduped(
    client, org, make_flow, receiver, run_jobs
):
    subscribe(client, org, receiver, ["flow.payment_intent.succeeded"])
    flow = make_flow(stripe_secret=STRIPE_SECRET)
    body = payload_bytes("stripe_payment_intent_succeeded.json")
    response = post_to_flow(client, flow, raw=body, **stripe_headers(body))
    assert response.status_code == 200, response.data
    assert response.get_json()["event"] == "payment_intent.succeeded"
    retry = post_to_flow(client, flow, raw=body, **stripe_headers(body))  # Stripe retries with a fresh signature
    assert retry.get_json()["duplicate"] is True
    run_jobs()
    logged = [e for e in flow_events(client, org, flow) if not e["duplicate"]]
    assert logged[0]["source"] == "stripe"
    assert logged[0]["verified"] is True
    assert logged[0]["data"]["data"]["object"]["amount"] == 2000
    (sent,) = receiver.received()
    assert json.loads(sent["body"])["type"] == "flow.payment_intent.succeeded"


def test_a_stale_or_forged_stripe_signature_is_a_401(client, make_flow):
    flow = make_flow(stripe_secret=STRIPE_SECRET)
    body = payload_bytes("stripe_payment_intent_succeeded.json")
    stale = post_to_flow(client, flow, raw=body, **{"Stripe-Signature": STALE_STRIPE_SIGNATURE})
    assert stale.status_code == 401
    assert "old" in stale.get_json()["message"]
    six_minutes_ago = post_to_flow(client, flow, raw=body, **stripe_headers(body, timestamp=int(time.time()) - 360))
    assert six_minutes_ago.status_code == 401
    forged = post_to_flow(client, flow, raw=body, **stripe_headers(body, secret="whsec_someone_else"))
    assert forged.status_code == 401
    assert "does not match" in forged.get_json()["message"]
    for malformed in ("garbage", "t=,v1=", "t=abc,v1=" + "0" * 64, f"t={int(time.time())}", "t=²,v1=00"):
        answer = post_to_flow(client, flow, raw=body, **{"Stripe-Signature": malformed})
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
    assert secret.startswith("whsec_")
    assert flow["has_secret"] is True
    assert client.get(f"/v1/flows/{flow['id']}", headers=org["headers"]).get_json()["secret"] is None
    body = json.dumps(CUSTOM_EVENT).encode()
    unsigned = post_to_flow(client, flow, raw=body, **{"X-API-Key": flow_key})
    assert unsigned.status_code == 401
    assert unsigned.get_json()["error"] == "signature_required"
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    wrong = post_to_flow(client, flow, raw=body, **{"X-API-Key": flow_key, "X-Event-Signature": "0" * 64})
    assert wrong.status_code == 401
    assert wrong.get_json()["error"] == "invalid_signature"
    signed_without_key = post_to_flow(client, flow, raw=body, **{"X-Event-Signature": signature})
    assert signed_without_key.status_code == 401  # the signature proves integrity; the key authenticates
    signed = post_to_flow(client, flow, raw=body, **{"X-API-Key": flow_key, "X-Event-Signature": signature})
    assert signed.status_code == 200, signed.data
    run_jobs()
    assert flow_events(client, org, flow)[0]["verified"] is True
