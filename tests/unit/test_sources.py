"""What a flow request is: GitHub, Stripe or custom; its event name, data and dedupe key."""

import json
import re
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers

from hookyard.flows.sources import (
    FlowMessage,
    dedupe_key,
    event_name_problem,
    idempotency_key_problem,
    read_message,
)

PAYLOADS = Path(__file__).parent.parent / "payloads"
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def payload(name: str):
    """Return a stored real-world payload."""
    with (PAYLOADS / f"{name}.json").open() as file:
        return json.load(file)


def github_headers(**changes) -> Headers:
    """Return the headers of a GitHub push delivery, with `changes` applied (None removes one)."""
    values = {"X-GitHub-Event": "push", "X-GitHub-Delivery": DELIVERY, "Content-Type": "application/json"}
    values.update({name.replace("_", "-"): value for name, value in changes.items()})
    return Headers([(name, value) for name, value in values.items() if value is not None])


def custom_body(**changes) -> dict:
    """Return a custom flow body, with `changes` applied."""
    return {"event": "order.paid", "data": {"order": 42}, "timestamp": "2024-05-01T12:00:00Z", **changes}


def test_a_github_delivery_is_read_as_github():
    assert read_message(github_headers(), payload("github_push")).source == "github"


def test_a_github_delivery_is_named_by_its_event_header():
    assert read_message(github_headers(), payload("github_push")).event == "push"


def test_a_github_delivery_carries_the_whole_body_as_data():
    body = payload("github_push")
    assert read_message(github_headers(), body).data == body


def test_a_github_delivery_is_deduplicated_by_its_delivery_id():
    assert read_message(github_headers(), payload("github_push")).dedupe_key == dedupe_key("github", DELIVERY)


def test_a_redelivery_has_the_same_dedupe_key_as_the_first_delivery():
    first = read_message(github_headers(), payload("github_push"))
    again = read_message(github_headers(), {**payload("github_push"), "after": "changed"})
    assert first.dedupe_key == again.dedupe_key


def test_another_github_delivery_has_another_dedupe_key():
    first = read_message(github_headers(), payload("github_push"))
    other = read_message(github_headers(X_GitHub_Delivery="b1c2"), payload("github_push"))
    assert first.dedupe_key != other.dedupe_key


def test_github_header_names_are_read_in_any_case():
    headers = Headers([("x-github-event", "push"), ("x-github-delivery", DELIVERY)])
    assert read_message(headers, payload("github_push")).dedupe_key == dedupe_key("github", DELIVERY)


def test_a_plain_dict_of_headers_is_read_when_the_names_match_exactly():
    headers = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": DELIVERY}
    assert read_message(headers, payload("github_ping")).event == "ping"


def test_the_github_event_header_is_trimmed():
    assert read_message(github_headers(X_GitHub_Event="  push "), {}).event == "push"


def test_a_blank_github_event_header_is_not_github():
    assert read_message(github_headers(X_GitHub_Event="   "), custom_body()).source == "custom"


def test_the_github_delivery_id_wins_over_an_idempotency_key():
    headers = github_headers(Idempotency_Key="key-1")
    assert read_message(headers, payload("github_push")).dedupe_key == dedupe_key("github", DELIVERY)


def test_a_github_delivery_without_a_delivery_id_uses_the_idempotency_key():
    headers = github_headers(X_GitHub_Delivery=None, Idempotency_Key="key-1")
    assert read_message(headers, payload("github_push")).dedupe_key == dedupe_key("idempotency", "key-1")


def test_a_github_delivery_without_any_id_has_no_dedupe_key():
    assert read_message(github_headers(X_GitHub_Delivery=None), payload("github_push")).dedupe_key is None


def test_the_github_header_wins_over_a_stripe_body():
    assert read_message(github_headers(), payload("stripe_payment_intent_succeeded")).source == "github"


def test_a_stripe_event_is_read_as_stripe():
    message = read_message(Headers(), payload("stripe_payment_intent_succeeded"))
    assert message.source == "stripe"


def test_a_stripe_event_is_named_by_its_type():
    assert read_message(Headers(), payload("stripe_payment_intent_succeeded")).event == "payment_intent.succeeded"


def test_a_stripe_event_carries_the_whole_body_as_data():
    body = payload("stripe_payment_intent_succeeded")
    assert read_message(Headers(), body).data == body


def test_a_stripe_event_is_deduplicated_by_its_event_id():
    message = read_message(Headers(), payload("stripe_payment_intent_succeeded"))
    assert message.dedupe_key == dedupe_key("stripe", "evt_000000000000000000000000")


def test_a_stripe_event_ignores_an_idempotency_key():
    message = read_message(Headers({"Idempotency-Key": "key-1"}), payload("stripe_payment_intent_succeeded"))
    assert message.dedupe_key == dedupe_key("stripe", "evt_000000000000000000000000")


def test_a_stripe_event_has_no_timestamp():
    assert read_message(Headers(), payload("stripe_payment_intent_succeeded")).timestamp is None


@pytest.mark.parametrize(
    "change",
    [{"id": "pi_000"}, {"id": 7}, {"object": "payment_intent"}, {"type": None}, {"type": 3}],
)
def test_a_body_that_is_almost_a_stripe_event_is_custom(change):
    body = {**payload("stripe_payment_intent_succeeded"), **change}
    assert read_message(Headers(), body).source == "custom"


def test_a_custom_body_is_read_as_custom():
    assert read_message(Headers(), custom_body()) == FlowMessage(
        "custom", "order.paid", {"order": 42}, None, "2024-05-01T12:00:00Z"
    )


def test_a_custom_event_name_is_trimmed():
    assert read_message(Headers(), custom_body(event=" order.paid ")).event == "order.paid"


@pytest.mark.parametrize("event", [None, "", "   ", 7, ["order.paid"]])
def test_a_custom_body_without_a_usable_event_names_no_event(event):
    assert read_message(Headers(), custom_body(event=event)).event is None


def test_a_custom_body_without_data_carries_the_rest_of_the_body_as_data():
    body = {"event": "order.paid", "order": 42, "timestamp": "2024-05-01T12:00:00Z"}
    assert read_message(Headers(), body).data == {"order": 42, "timestamp": "2024-05-01T12:00:00Z"}


def test_a_custom_body_without_data_has_no_timestamp():
    body = {"event": "order.paid", "order": 42, "timestamp": "2024-05-01T12:00:00Z"}
    assert read_message(Headers(), body).timestamp is None


def test_a_null_data_field_is_the_data():
    assert read_message(Headers(), custom_body(data=None)).data is None


@pytest.mark.parametrize(("timestamp", "text"), [(1714564800, "1714564800"), (1714564800.5, "1714564800.5")])
def test_a_numeric_timestamp_is_kept_as_text(timestamp, text):
    assert read_message(Headers(), custom_body(timestamp=timestamp)).timestamp == text


@pytest.mark.parametrize("timestamp", [True, None, {"at": 1}, ["2024"]])
def test_a_timestamp_that_is_not_text_or_a_number_is_dropped(timestamp):
    assert read_message(Headers(), custom_body(timestamp=timestamp)).timestamp is None


def test_a_long_timestamp_is_cut_to_64_characters():
    assert read_message(Headers(), custom_body(timestamp="9" * 100)).timestamp == "9" * 64


def test_a_custom_body_is_deduplicated_by_its_idempotency_key():
    message = read_message(Headers({"Idempotency-Key": "key-1"}), custom_body(id="body-1"))
    assert message.dedupe_key == dedupe_key("idempotency", "key-1")


def test_a_custom_body_without_an_idempotency_key_is_deduplicated_by_its_id():
    assert read_message(Headers(), custom_body(id="body-1")).dedupe_key == dedupe_key("id", "body-1")


def test_a_custom_body_with_a_numeric_id_is_deduplicated_by_it():
    assert read_message(Headers(), custom_body(id=42)).dedupe_key == dedupe_key("id", "42")


def test_a_custom_body_with_neither_has_no_dedupe_key():
    assert read_message(Headers(), custom_body()).dedupe_key is None


def test_a_body_that_is_not_an_object_is_custom_with_no_event():
    assert read_message(Headers(), [1, 2]) == FlowMessage("custom", None, [1, 2], None)


def test_a_dedupe_key_is_a_hex_sha256():
    assert re.fullmatch(r"[0-9a-f]{64}", dedupe_key("id", "body-1"))


def test_the_same_value_of_another_kind_has_another_dedupe_key():
    assert dedupe_key("id", "abc") != dedupe_key("idempotency", "abc")


def test_a_dedupe_value_is_trimmed():
    assert dedupe_key("id", "  abc ") == dedupe_key("id", "abc")


def test_different_dedupe_values_have_different_keys():
    assert dedupe_key("id", "abc") != dedupe_key("id", "abd")


def test_a_dedupe_value_of_500_characters_is_usable():
    assert dedupe_key("id", "x" * 500) is not None


@pytest.mark.parametrize("value", [None, True, False, 1.5, {"id": 1}, ["a"], "", "   ", "x" * 501])
def test_an_unusable_dedupe_value_has_no_key(value):
    assert dedupe_key("id", value) is None


def test_an_event_name_is_usable():
    assert event_name_problem("order.paid") is None


def test_no_event_name_is_a_problem():
    assert "No event name" in event_name_problem(None)


def test_an_event_name_of_200_characters_is_usable():
    assert event_name_problem("e" * 200) is None


def test_an_event_name_of_201_characters_is_too_long():
    assert "longer than 200" in event_name_problem("e" * 201)


@pytest.mark.parametrize("event", ["order\npaid", "order\tpaid", "order\x00paid", "order\x7fpaid"])
def test_an_event_name_with_a_control_character_is_refused(event):
    assert "control characters" in event_name_problem(event)


def test_an_event_name_with_a_star_is_refused():
    assert "`*`" in event_name_problem("order.*")


def test_an_event_name_with_spaces_and_unicode_is_usable():
    assert event_name_problem("Commande payée") is None


def test_no_idempotency_key_has_no_problem():
    assert idempotency_key_problem(Headers()) is None


def test_an_idempotency_key_of_500_characters_has_no_problem():
    assert idempotency_key_problem(Headers({"Idempotency-Key": "k" * 500})) is None


def test_an_idempotency_key_of_501_characters_is_too_long():
    assert "longer than 500" in idempotency_key_problem(Headers({"Idempotency-Key": "k" * 501}))


def test_an_idempotency_key_is_measured_after_trimming():
    assert idempotency_key_problem(Headers({"Idempotency-Key": " " + "k" * 500 + " "})) is None
