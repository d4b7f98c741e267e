"""Signing outbound deliveries: secrets, the hex signature and the Standard Webhooks headers."""

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hookyard.outbound.signing import generate_secret, hex_signature, secret_problem, signature_headers

BODY = b'{"type":"signal.received","data":{"id":1}}'
MESSAGE_ID = "evt_01hzyxw5k6r7s8t9v0w1x2y3z4"
PLAIN_SECRET = "a-plain-text-secret"


def whsec(key: bytes) -> str:
    """Return a Standard Webhooks secret holding `key`."""
    return "whsec_" + base64.b64encode(key).decode()


def headers_for(secrets_in_use=None, body=BODY, timestamp=None):
    """Return the headers for a valid delivery signed now with one whsec_ secret, changing what is given."""
    secrets_in_use = secrets_in_use or [whsec(b"k" * 32)]
    timestamp = int(time.time()) if timestamp is None else timestamp
    return signature_headers(secrets_in_use, MESSAGE_ID, timestamp, body)


def test_a_generated_secret_starts_with_whsec():
    assert generate_secret().startswith("whsec_")


def test_a_generated_secret_holds_32_random_bytes():
    key = base64.b64decode(generate_secret().removeprefix("whsec_"), validate=True)
    assert len(key) == 32


def test_two_generated_secrets_differ():
    assert generate_secret() != generate_secret()


def test_a_generated_secret_has_no_problem():
    assert secret_problem(generate_secret()) is None


def test_a_plain_text_secret_of_eight_characters_is_usable():
    assert secret_problem("12345678") is None


def test_a_secret_of_seven_characters_is_too_short():
    assert secret_problem("1234567") is not None


def test_a_secret_of_256_characters_is_usable():
    assert secret_problem("s" * 256) is None


def test_a_secret_of_257_characters_is_too_long():
    assert secret_problem("s" * 257) is not None


def test_a_whsec_secret_that_is_not_base64_is_refused():
    assert "base64" in secret_problem("whsec_not*base64*at*all")


def test_a_whsec_secret_holding_fifteen_bytes_is_too_weak():
    assert "16 bytes" in secret_problem(whsec(b"k" * 15))


def test_a_whsec_secret_holding_sixteen_bytes_is_usable():
    assert secret_problem(whsec(b"k" * 16)) is None


def test_the_hex_signature_is_the_hmac_sha256_of_the_body_keyed_by_the_secret_text():
    # GitHub's documented test vector uses the same construction.
    signature = hex_signature("It's a Secret to Everybody", b"Hello, World!")
    assert signature == "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_the_hex_signature_of_a_whsec_secret_is_keyed_by_its_text_not_its_decoded_bytes():
    secret = whsec(b"k" * 32)
    assert hex_signature(secret, BODY) == hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()


def test_the_headers_carry_the_message_id():
    assert headers_for()["webhook-id"] == MESSAGE_ID


def test_the_headers_carry_the_timestamp_as_decimal_text():
    assert headers_for(timestamp=1700000000)["webhook-timestamp"] == "1700000000"


def test_the_headers_carry_the_hex_signature_of_the_current_secret():
    current, previous = whsec(b"c" * 32), whsec(b"p" * 32)
    headers = headers_for([current, previous])
    assert headers["X-Webhook-Signature"] == hex_signature(current, BODY)


def test_the_headers_are_exactly_the_four_signature_headers():
    assert set(headers_for()) == {"X-Webhook-Signature", "webhook-id", "webhook-timestamp", "webhook-signature"}


def test_one_secret_gives_one_v1_signature():
    signatures = headers_for()["webhook-signature"].split(" ")
    assert [signature.split(",")[0] for signature in signatures] == ["v1"]


def test_two_secrets_give_two_v1_signatures():
    signatures = headers_for([whsec(b"c" * 32), whsec(b"p" * 32)])["webhook-signature"].split(" ")
    assert [signature.split(",")[0] for signature in signatures] == ["v1", "v1"]


def test_the_webhook_signature_verifies_with_the_standard_webhooks_library():
    secret = whsec(b"k" * 32)
    assert Webhook(secret).verify(BODY, headers_for([secret])) == {"type": "signal.received", "data": {"id": 1}}


def test_the_webhook_signature_verifies_with_the_current_secret_while_rotating():
    current, previous = whsec(b"c" * 32), whsec(b"p" * 32)
    Webhook(current).verify(BODY, headers_for([current, previous]), json_parse=False)


def test_the_webhook_signature_verifies_with_the_previous_secret_while_rotating():
    current, previous = whsec(b"c" * 32), whsec(b"p" * 32)
    Webhook(previous).verify(BODY, headers_for([current, previous]), json_parse=False)


def test_a_plain_text_secret_signs_with_its_utf8_bytes():
    Webhook(PLAIN_SECRET.encode()).verify(BODY, headers_for([PLAIN_SECRET]), json_parse=False)


def test_a_changed_body_fails_verification():
    secret = whsec(b"k" * 32)
    headers = headers_for([secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"1", b"2"), headers)


def test_another_secret_fails_verification():
    headers = headers_for([whsec(b"k" * 32)])
    with pytest.raises(WebhookVerificationError):
        Webhook(whsec(b"x" * 32)).verify(BODY, headers)


def test_a_changed_message_id_fails_verification():
    secret = whsec(b"k" * 32)
    headers = {**headers_for([secret]), "webhook-id": "evt_someone_else"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers)


def test_a_changed_timestamp_fails_verification():
    secret = whsec(b"k" * 32)
    headers = headers_for([secret])
    headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) - 1)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers)


def test_the_signed_content_is_id_dot_timestamp_dot_body():
    key = b"k" * 32
    expected = hmac.new(key, f"{MESSAGE_ID}.1700000000.".encode() + BODY, hashlib.sha256).digest()
    signature = headers_for([whsec(key)], timestamp=1700000000)["webhook-signature"]
    assert signature == "v1," + base64.b64encode(expected).decode()
