"""What a signal says about itself: source, email, identities, event name and dedupe key."""

import datetime
import json
import re
from pathlib import Path

import pytest

from hookyard.signals.fields import (
    SignalFields,
    dedupe_key,
    detect_source,
    event_name,
    find_email,
    identifier,
    is_segment,
    is_valid_source,
    read_fields,
    sender_time,
)

PAYLOADS = Path(__file__).parent.parent / "payloads"


def payload(name: str) -> dict:
    """Return a stored real-world payload."""
    with (PAYLOADS / f"{name}.json").open() as file:
        return json.load(file)


def segment_call(**changes) -> dict:
    """Return a minimal valid Segment track call, with `changes` applied (None removes a key)."""
    call = {"type": "track", "messageId": "ajs-1", "anonymousId": "anon-1", "event": "Signed Up"}
    call.update(changes)
    return {key: value for key, value in call.items() if value is not None}


@pytest.mark.parametrize("slug", ["segment", "a", "web-form_2", "0abc", "x" * 64])
def test_a_lower_case_slug_is_a_valid_source(slug):
    assert is_valid_source(slug) is True


@pytest.mark.parametrize("slug", ["", "Segment", "-abc", "_abc", "a b", "a.b", "a/b", "x" * 65, "é"])
def test_a_slug_with_other_characters_or_too_long_is_not_a_valid_source(slug):
    assert is_valid_source(slug) is False


def test_a_slug_with_a_trailing_newline_is_not_a_valid_source():
    assert is_valid_source("segment\n") is False


def test_a_minimal_segment_call_is_segment():
    assert is_segment(segment_call()) is True


@pytest.mark.parametrize("name", ["segment_identify", "segment_track", "segment_page", "segment_alias"])
def test_a_real_segment_call_is_segment(name):
    assert is_segment(payload(name)) is True


@pytest.mark.parametrize("call_type", ["identify", "track", "page", "screen", "group", "alias", "delete"])
def test_every_segment_call_type_is_segment(call_type):
    assert is_segment(segment_call(type=call_type)) is True


def test_a_call_of_an_unknown_type_is_not_segment():
    assert is_segment(segment_call(type="purchase")) is False


def test_a_call_without_a_message_id_is_segment():
    assert is_segment(segment_call(messageId=None)) is True


def test_the_calls_of_segments_own_http_api_example_are_segment():
    calls = payload("segment_batch")["batch"]
    assert [is_segment(call) for call in calls] == [True] * len(calls)


def test_an_empty_or_structured_anonymous_id_does_not_make_a_segment_call():
    assert is_segment(segment_call(anonymousId="")) is False
    assert is_segment(segment_call(anonymousId={"id": 1})) is False


def test_a_call_without_anonymous_id_or_user_id_is_not_segment():
    assert is_segment(segment_call(anonymousId=None)) is False


def test_a_call_with_only_a_user_id_is_segment():
    assert is_segment(segment_call(anonymousId=None, userId="u-1")) is True


def test_the_x_source_header_wins_over_segment():
    assert detect_source(segment_call(), "forms", "crm") == "crm"


def test_a_segment_call_wins_over_the_url_source():
    assert detect_source(segment_call(), "forms", None) == "segment"


def test_the_url_source_names_a_payload_that_is_not_segment():
    assert detect_source({"email": "a@example.com"}, "forms", None) == "forms"


def test_a_payload_with_no_source_anywhere_is_generic():
    assert detect_source({"email": "a@example.com"}, None, None) == "generic"


def test_an_empty_x_source_header_falls_through():
    assert detect_source({"email": "a@example.com"}, "forms", "") == "forms"


@pytest.mark.parametrize("value", [None, "", {}, {"id": 1}, [], [1], True, False])
def test_an_absent_or_structured_identifier_is_none(value):
    assert identifier(value) is None


@pytest.mark.parametrize(("value", "text"), [("u-1", "u-1"), (42, "42"), (0, "0"), (1.5, "1.5")])
def test_an_identifier_is_read_as_text(value, text):
    assert identifier(value) == text


def test_a_long_identifier_is_cut_to_255_characters():
    assert identifier("x" * 300) == "x" * 255


def test_the_email_is_read_from_the_top_level():
    assert find_email({"email": "ann@example.com"}) == "ann@example.com"


def test_the_email_is_read_from_traits():
    assert find_email({"traits": {"email": "ann@example.com"}}) == "ann@example.com"


def test_the_email_is_read_from_context_traits():
    assert find_email({"context": {"traits": {"email": "ann@example.com"}}}) == "ann@example.com"


def test_the_email_is_read_from_properties():
    assert find_email({"properties": {"email": "ann@example.com"}}) == "ann@example.com"


def test_the_top_level_email_wins_over_traits():
    assert find_email({"email": "top@example.com", "traits": {"email": "traits@example.com"}}) == "top@example.com"


def test_traits_win_over_context_traits():
    body = {"traits": {"email": "traits@example.com"}, "context": {"traits": {"email": "ctx@example.com"}}}
    assert find_email(body) == "traits@example.com"


def test_context_traits_win_over_properties():
    body = {"context": {"traits": {"email": "ctx@example.com"}}, "properties": {"email": "props@example.com"}}
    assert find_email(body) == "ctx@example.com"


def test_a_value_without_an_at_sign_is_skipped_for_the_next_path():
    assert find_email({"email": "not an email", "traits": {"email": "ann@example.com"}}) == "ann@example.com"


def test_a_non_string_email_is_skipped_for_the_next_path():
    assert find_email({"email": ["ann@example.com"], "properties": {"email": "p@example.com"}}) == "p@example.com"


def test_the_email_is_trimmed_and_lower_cased():
    assert find_email({"email": "  Ann@Example.COM "}) == "ann@example.com"


def test_a_long_email_is_cut_to_320_characters():
    assert len(find_email({"email": "a" * 400 + "@example.com"})) == 320


def test_a_path_through_a_non_object_finds_nothing():
    assert find_email({"traits": "ann@example.com", "context": ["ann@example.com"]}) is None


def test_a_payload_without_an_email_has_none():
    assert find_email({"name": "Ann"}) is None


def test_the_email_of_a_real_segment_identify_is_its_trait():
    assert find_email(payload("segment_identify")) == "peter@example.com"


def test_the_event_field_names_the_event():
    assert event_name(payload("segment_track")) == "Registered"


@pytest.mark.parametrize(
    ("name", "event"),
    [("segment_identify", "identify"), ("segment_page", "page_view"), ("segment_alias", "alias")],
)
def test_a_real_segment_call_without_an_event_is_named_for_its_type(name, event):
    assert event_name(payload(name)) == event


@pytest.mark.parametrize(
    ("call_type", "event"),
    [
        ("page", "page_view"),
        ("screen", "screen_view"),
        ("identify", "identify"),
        ("group", "group"),
        ("alias", "alias"),
    ],
)
def test_a_segment_call_type_gives_its_event_name(call_type, event):
    assert event_name({"type": call_type}) == event


def test_a_track_call_without_an_event_has_no_event_name():
    assert event_name({"type": "track"}) is None


def test_an_empty_event_falls_back_to_the_call_type():
    assert event_name({"event": "", "type": "page"}) == "page_view"


def test_a_non_string_event_falls_back_to_the_call_type():
    assert event_name({"event": 7, "type": "screen"}) == "screen_view"


def test_the_event_field_wins_over_the_call_type():
    assert event_name({"event": "Viewed Pricing", "type": "page"}) == "Viewed Pricing"


def test_a_long_event_name_is_cut_to_255_characters():
    assert event_name({"event": "e" * 300}) == "e" * 255


def test_a_payload_naming_nothing_has_no_event_name():
    assert event_name({"email": "ann@example.com"}) is None


def test_a_non_string_type_has_no_event_name():
    assert event_name({"type": ["page"]}) is None


def test_the_fields_of_a_real_segment_identify():
    assert read_fields(payload("segment_identify"), "segment") == SignalFields(
        source="segment",
        event="identify",
        email="peter@example.com",
        anonymous_id="3d316d2c-26e8-451f-91be-a0766708c81e",
        user_id="97980cfea0067",
        segment_type="identify",
    )


def test_the_fields_of_a_payload_that_is_not_segment_have_no_segment_type():
    assert read_fields({"type": "page", "userId": {"id": 1}}, "forms").segment_type is None


def test_the_fields_keep_the_source_they_are_given():
    assert read_fields(segment_call(), "crm").source == "crm"


def test_the_identities_list_the_anonymous_id_then_the_user_id():
    fields = read_fields(payload("segment_alias"), "segment")
    assert fields.identities == [("anonymous_id", "3d316d2c-26e8-451f-91be-a0766708c81e"), ("user_id", "507f191e81")]


def test_a_signal_without_ids_has_no_identities():
    assert read_fields({"email": "ann@example.com"}, "forms").identities == []


def test_a_segment_call_without_a_message_id_is_deduped_by_its_content():
    first, again = segment_call(messageId=None), segment_call(messageId=None)
    assert dedupe_key(first) == dedupe_key(again)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", dedupe_key(first))
    assert dedupe_key(first) != dedupe_key(segment_call(messageId=None, event="Other"))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"timestamp": "2019-06-21T17:35:47.404Z"}, datetime.datetime(2019, 6, 21, 17, 35, 47, 404000)),
        ({"timestamp": "2019-06-21T19:35:47+02:00"}, datetime.datetime(2019, 6, 21, 17, 35, 47)),
        ({"originalTimestamp": "2019-06-21T17:35:47Z"}, datetime.datetime(2019, 6, 21, 17, 35, 47)),
        ({"timestamp": "2019-06-21T17:00:00Z", "originalTimestamp": "2018-01-01T00:00:00Z"},
         datetime.datetime(2019, 6, 21, 17)),
        ({"timestamp": "garbage", "originalTimestamp": "2018-01-01T00:00:00Z"}, datetime.datetime(2018, 1, 1)),
        ({"timestamp": "2019-06-21T17:35:47"}, None),  # no zone: whose time?
        ({"timestamp": "0001-01-01T00:30:00+01:00"}, None),
        ({"timestamp": "9999-12-31T23:59:59-01:00"}, None),
        ({"timestamp": 1561138547}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_the_sender_time_is_segments_timestamp_else_its_original_timestamp(changes, expected):
    assert sender_time(segment_call(**changes)) == expected


def test_the_dedupe_key_of_a_segment_call_is_its_message_id():
    assert dedupe_key(payload("segment_track")) == "seg:ajs-920a8b6591f0d25cc117fb71602a6b17"


def test_two_segment_calls_with_the_same_message_id_share_a_dedupe_key():
    assert dedupe_key(segment_call(event="A")) == dedupe_key(segment_call(event="B"))


def test_a_long_segment_message_id_is_cut_to_70_characters():
    assert dedupe_key(segment_call(messageId="m" * 100)) == "seg:" + "m" * 70


def test_the_dedupe_key_of_another_payload_is_a_hex_sha256():
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", dedupe_key({"email": "ann@example.com"}))


def test_the_dedupe_key_does_not_depend_on_key_order():
    first = {"email": "ann@example.com", "form": {"name": "demo", "page": 2}}
    second = {"form": {"page": 2, "name": "demo"}, "email": "ann@example.com"}
    assert dedupe_key(first) == dedupe_key(second)


def test_different_payloads_have_different_dedupe_keys():
    assert dedupe_key({"email": "ann@example.com"}) != dedupe_key({"email": "bob@example.com"})


def test_the_dedupe_key_tells_a_number_from_its_text():
    assert dedupe_key({"amount": 1}) != dedupe_key({"amount": "1"})


def test_a_payload_with_a_message_id_that_is_not_segment_is_hashed_whole():
    assert dedupe_key({"messageId": "m-1", "email": "ann@example.com"}).startswith("sha256:")
