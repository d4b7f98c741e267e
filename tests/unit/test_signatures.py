"""Verifying inbound flow signatures: X-Event-Signature, GitHub's X-Hub-Signature-256, Stripe-Signature."""

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from hookyard.flows.signatures import SignatureError, verify_event_signature, verify_github, verify_stripe

PAYLOADS = Path(__file__).parent.parent / "payloads"
SECRET = "flow-secret"
BODY = b'{"event":"order.paid","data":{"order":42}}'
NOW = 1_714_564_800


def hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def stripe_header(secret: str = SECRET, body: bytes = BODY, timestamp: int = NOW, extra: str = "") -> str:
    """Return a valid Stripe-Signature for `body` signed at `timestamp`, with `extra` items appended."""
    return f"t={timestamp},v1={hex_hmac(secret, f'{timestamp}.'.encode() + body)}{extra}"


# X-Event-Signature


def test_a_valid_event_signature_verifies():
    verify_event_signature(SECRET, BODY, hex_hmac(SECRET, BODY))


def test_an_event_signature_may_carry_a_sha256_prefix():
    verify_event_signature(SECRET, BODY, "sha256=" + hex_hmac(SECRET, BODY))


def test_an_upper_case_event_signature_verifies():
    verify_event_signature(SECRET, BODY, hex_hmac(SECRET, BODY).upper())


def test_an_event_signature_surrounded_by_spaces_verifies():
    verify_event_signature(SECRET, BODY, f"  {hex_hmac(SECRET, BODY)} ")


def test_an_event_signature_made_with_another_secret_fails():
    with pytest.raises(SignatureError, match="does not match"):
        verify_event_signature(SECRET, BODY, hex_hmac("another-secret", BODY))


def test_an_event_signature_over_another_body_fails():
    with pytest.raises(SignatureError, match="does not match"):
        verify_event_signature(SECRET, BODY + b" ", hex_hmac(SECRET, BODY))


@pytest.mark.parametrize(
    "header",
    ["", "abc", "z" * 64, "a" * 63, "a" * 65, "sha1=" + "a" * 40, "sha256:" + "a" * 64, "a" * 62 + "é"],
)
def test_a_malformed_event_signature_fails(header):
    with pytest.raises(SignatureError, match="must be the 64-character hex"):
        verify_event_signature(SECRET, BODY, header)


def test_an_event_signature_in_base64_fails_as_malformed():
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()
    with pytest.raises(SignatureError, match="must be the 64-character hex"):
        verify_event_signature(SECRET, BODY, base64.b64encode(digest).decode())


# GitHub


def test_githubs_documented_test_vector_verifies():
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    verify_github("It's a Secret to Everybody", b"Hello, World!", header)


def test_a_github_push_signed_over_its_exact_bytes_verifies():
    header = "sha256=8932d8769b1f990ebb7d03235a66217b1de8e48d0c626166d4e8fcac027a123d"
    verify_github("It's a Secret to Everybody", (PAYLOADS / "github_push.json").read_bytes(), header)


def test_a_valid_github_signature_verifies():
    verify_github(SECRET, BODY, "sha256=" + hex_hmac(SECRET, BODY))


def test_an_upper_case_github_signature_verifies():
    verify_github(SECRET, BODY, "sha256=" + hex_hmac(SECRET, BODY).upper())


def test_a_github_signature_made_with_another_secret_fails():
    with pytest.raises(SignatureError, match="does not match"):
        verify_github(SECRET, BODY, "sha256=" + hex_hmac("another-secret", BODY))


def test_a_github_signature_over_another_body_fails():
    with pytest.raises(SignatureError, match="does not match"):
        verify_github(SECRET, BODY.replace(b"42", b"43"), "sha256=" + hex_hmac(SECRET, BODY))


def test_a_github_push_that_was_reserialised_fails():
    body = json.dumps(json.loads((PAYLOADS / "github_push.json").read_bytes())).encode()
    header = "sha256=8932d8769b1f990ebb7d03235a66217b1de8e48d0c626166d4e8fcac027a123d"
    with pytest.raises(SignatureError, match="does not match"):
        verify_github("It's a Secret to Everybody", body, header)


def test_a_github_signature_without_its_scheme_fails_as_malformed():
    with pytest.raises(SignatureError, match="must look like sha256="):
        verify_github(SECRET, BODY, hex_hmac(SECRET, BODY))


def test_a_github_sha1_signature_fails_as_malformed():
    sha1 = hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()
    with pytest.raises(SignatureError, match="must look like sha256="):
        verify_github(SECRET, BODY, "sha1=" + sha1)


@pytest.mark.parametrize("header", ["", "sha256=", "sha256=abc", "sha256=" + "g" * 64, "SHA256=" + "a" * 64])
def test_a_malformed_github_signature_fails(header):
    with pytest.raises(SignatureError, match="must look like sha256="):
        verify_github(SECRET, BODY, header)


# Stripe


def test_the_stored_stripe_event_signed_by_stripes_library_verifies():
    body = (PAYLOADS / "stripe_payment_intent_succeeded.json").read_bytes()
    header = "t=1648320040,v1=1bb6b032acb2fc039354a9ed03a34479242be0e1d77a0ef433781dd85ad36c1a"
    verify_stripe("whsec_test_secret", body, header, now=1648320040)


def test_a_valid_stripe_signature_verifies():
    verify_stripe(SECRET, BODY, stripe_header(), now=NOW)


def test_a_stripe_signature_checks_against_the_clock_by_default():
    with pytest.raises(SignatureError, match="s old"):
        verify_stripe(SECRET, BODY, stripe_header(timestamp=NOW))


def test_a_stripe_signature_with_spaces_after_its_commas_verifies():
    verify_stripe(SECRET, BODY, stripe_header().replace(",", ", "), now=NOW)


def test_a_stripe_signature_made_with_another_secret_fails():
    with pytest.raises(SignatureError, match="does not match"):
        verify_stripe(SECRET, BODY, stripe_header(secret="another-secret"), now=NOW)


def test_a_stripe_signature_over_another_body_fails():
    with pytest.raises(SignatureError, match="does not match"):
        verify_stripe(SECRET, BODY.replace(b"42", b"43"), stripe_header(), now=NOW)


def test_a_stripe_signature_with_its_timestamp_changed_fails():
    header = stripe_header().replace(f"t={NOW}", f"t={NOW + 1}")
    with pytest.raises(SignatureError, match="does not match"):
        verify_stripe(SECRET, BODY, header, now=NOW)


def test_a_stripe_signature_five_minutes_old_verifies():
    verify_stripe(SECRET, BODY, stripe_header(), now=NOW + 300)


def test_a_stripe_signature_older_than_five_minutes_fails():
    with pytest.raises(SignatureError, match="301 s old"):
        verify_stripe(SECRET, BODY, stripe_header(), now=NOW + 301)


def test_a_stripe_signature_more_than_five_minutes_in_the_future_fails():
    with pytest.raises(SignatureError, match="accepted for 300 s"):
        verify_stripe(SECRET, BODY, stripe_header(), now=NOW - 301)


def test_a_stripe_signature_within_a_wider_tolerance_verifies():
    verify_stripe(SECRET, BODY, stripe_header(), now=NOW + 3600, tolerance=3600)


def test_a_stripe_signature_with_a_matching_second_v1_verifies():
    header = f"t={NOW},v1={'0' * 64}," + stripe_header().split(",", 1)[1]
    verify_stripe(SECRET, BODY, header, now=NOW)


def test_a_stripe_signature_with_a_matching_first_v1_and_a_stale_second_verifies():
    verify_stripe(SECRET, BODY, stripe_header(extra=f",v1={'0' * 64}"), now=NOW)


def test_a_stripe_signature_with_a_malformed_v1_beside_a_matching_one_verifies():
    verify_stripe(SECRET, BODY, stripe_header(extra=",v1=not-hex"), now=NOW)


def test_a_stripe_signature_whose_v1s_all_mismatch_fails():
    header = f"t={NOW},v1={'0' * 64},v1={hex_hmac('another-secret', f'{NOW}.'.encode() + BODY)}"
    with pytest.raises(SignatureError, match="does not match"):
        verify_stripe(SECRET, BODY, header, now=NOW)


def test_a_stripe_v0_signature_is_not_enough():
    header = stripe_header().replace("v1=", "v0=")
    with pytest.raises(SignatureError, match="no v1 signature"):
        verify_stripe(SECRET, BODY, header, now=NOW)


def test_a_stripe_signature_without_a_timestamp_fails():
    header = stripe_header().split(",", 1)[1]
    with pytest.raises(SignatureError, match="no valid t="):
        verify_stripe(SECRET, BODY, header, now=NOW)


@pytest.mark.parametrize("timestamp", ["", "-5", "1.5", "abc", "1e9", "\uff11\uff12\uff13", "1" * 13])
def test_a_stripe_signature_with_a_malformed_timestamp_fails(timestamp):
    header = stripe_header().replace(f"t={NOW}", f"t={timestamp}")
    with pytest.raises(SignatureError, match="no valid t="):
        verify_stripe(SECRET, BODY, header, now=NOW)


@pytest.mark.parametrize("header", ["", "garbage", "v1=abc", ",,,"])
def test_a_malformed_stripe_header_fails(header):
    with pytest.raises(SignatureError):
        verify_stripe(SECRET, BODY, header, now=NOW)
