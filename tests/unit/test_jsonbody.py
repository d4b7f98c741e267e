"""Strict JSON reading for request bodies: content type, size, UTF-8, NaN and depth."""

import pytest
from flask import Request

from hookyard.core.errors import InvalidJson, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from hookyard.core.jsonbody import (
    check_depth,
    is_json_mimetype,
    nul_paths,
    parse_json,
    read_json,
    read_raw_body,
    refuse_nul,
    require_json_content_type,
)


def json_request(body: bytes = b'{"email": "ann@example.com"}', content_type: str | None = "application/json"):
    """Return a request (no app) carrying `body` as `content_type`."""
    return Request.from_values(method="POST", data=body, content_type=content_type)


def nested_lists(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_objects(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


@pytest.mark.parametrize("mimetype", ["application/json", "application/vnd.api+json", "application/cloudevents+json"])
def test_a_json_mimetype_is_json(mimetype):
    assert is_json_mimetype(mimetype) is True


@pytest.mark.parametrize("mimetype", ["", "text/plain", "text/json", "application/x-www-form-urlencoded", "json"])
def test_another_mimetype_is_not_json(mimetype):
    assert is_json_mimetype(mimetype) is False


def test_a_json_object_parses():
    assert parse_json(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


def test_a_top_level_scalar_parses():
    assert parse_json(b"42") == 42


def test_utf8_text_parses():
    assert parse_json('{"name": "Zoë"}'.encode()) == {"name": "Zoë"}


@pytest.mark.parametrize("raw", [b"", b"   ", b"\n\t "])
def test_an_empty_body_is_invalid_json(raw):
    with pytest.raises(InvalidJson, match="empty"):
        parse_json(raw)


@pytest.mark.parametrize("raw", [b"{", b"{'a': 1}", b'{"a": 1,}', b"undefined", b'{"a": 1} {"b": 2}'])
def test_a_body_that_is_not_json_is_invalid_json(raw):
    with pytest.raises(InvalidJson, match="not valid JSON"):
        parse_json(raw)


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b"[Infinity]", b"[-Infinity]"])
def test_nan_and_infinity_are_invalid_json(raw):
    with pytest.raises(InvalidJson, match="not valid JSON"):
        parse_json(raw)


@pytest.mark.parametrize("raw", [b'{"a": "\xff"}', '{"a": "é"}'.encode("latin-1"), b'"\xed\xa0\x80"'])
def test_a_body_that_is_not_utf8_is_invalid_json(raw):
    with pytest.raises(InvalidJson, match="not valid JSON"):
        parse_json(raw)


def test_invalid_json_is_a_400():
    with pytest.raises(InvalidJson) as caught:
        parse_json(b"{")
    assert caught.value.status == 400


def test_invalid_json_answers_with_its_code_and_message():
    with pytest.raises(InvalidJson) as caught:
        parse_json(b"")
    assert caught.value.body() == {
        "error": "invalid_json",
        "message": "The request body is empty; send a JSON document.",
    }


def test_a_document_64_levels_deep_parses():
    assert parse_json(nested_lists(64)) is not None


def test_a_document_65_levels_deep_is_refused():
    with pytest.raises(InvalidJson, match="deeper than 64 levels"):
        parse_json(nested_lists(65))


def test_objects_64_levels_deep_parse():
    assert parse_json(nested_objects(64)) is not None


def test_objects_count_towards_the_depth_like_arrays():
    with pytest.raises(InvalidJson, match="deeper than 64 levels"):
        parse_json(nested_objects(65))


def test_a_scalar_inside_the_deepest_container_does_not_count_as_a_level():
    assert check_depth([[["leaf"]]], max_depth=3) is None


def test_check_depth_refuses_a_container_past_a_given_depth():
    with pytest.raises(InvalidJson):
        check_depth([[[]]], max_depth=2)


def test_check_depth_follows_every_branch_not_just_the_first():
    with pytest.raises(InvalidJson):
        check_depth({"shallow": 1, "deep": [[[]]]}, max_depth=3)


def test_check_depth_accepts_a_scalar():
    assert check_depth("text", max_depth=0) is None


def test_check_depth_handles_a_very_deep_document_without_recursion_errors():
    value = []
    for _ in range(5000):
        value = [value]
    with pytest.raises(InvalidJson):
        check_depth(value)


def test_the_raw_body_is_read():
    assert read_raw_body(json_request(b'{"a": 1}')) == b'{"a": 1}'


def test_a_body_within_the_limit_is_read():
    assert read_raw_body(json_request(b"x" * 10), max_bytes=10) == b"x" * 10


def test_a_body_past_the_limit_is_a_413():
    with pytest.raises(PayloadTooLarge) as caught:
        read_raw_body(json_request(b"x" * 11), max_bytes=10)
    assert caught.value.status == 413


def test_a_body_past_the_limit_names_the_limit():
    with pytest.raises(PayloadTooLarge, match="larger than the 10 bytes"):
        read_raw_body(json_request(b"x" * 11), max_bytes=10)


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "application/x+json"])
def test_a_json_content_type_is_accepted_as_its_mimetype(content_type):
    assert require_json_content_type(json_request(content_type=content_type)) == content_type.split(";")[0]


def test_another_content_type_is_a_415():
    with pytest.raises(UnsupportedMediaType) as caught:
        require_json_content_type(json_request(content_type="text/plain"))
    assert caught.value.status == 415


def test_a_refused_content_type_is_named():
    with pytest.raises(UnsupportedMediaType, match="was text/plain"):
        require_json_content_type(json_request(content_type="text/plain"))


def test_a_missing_content_type_is_named_none():
    with pytest.raises(UnsupportedMediaType, match="was none"):
        require_json_content_type(json_request(content_type=None))


def test_an_allowed_content_type_is_accepted():
    assert require_json_content_type(json_request(content_type="text/plain"), allowed=("text/plain",)) == "text/plain"


def test_read_json_returns_the_object():
    assert read_json(json_request()) == {"email": "ann@example.com"}


def test_read_json_refuses_another_content_type_before_parsing():
    with pytest.raises(UnsupportedMediaType):
        read_json(json_request(b"{", content_type="text/plain"))


def test_read_json_refuses_a_body_past_the_limit():
    with pytest.raises(PayloadTooLarge):
        read_json(json_request(b'{"a": "' + b"x" * 100 + b'"}'), max_bytes=50)


def test_read_json_refuses_an_array_when_it_expects_an_object():
    with pytest.raises(InvalidJson, match="must be a JSON object, got array"):
        read_json(json_request(b"[1]"))


@pytest.mark.parametrize(
    ("raw", "name"), [(b'"x"', "string"), (b"true", "boolean"), (b"1", "number"), (b"1.5", "number"), (b"null", "null")]
)
def test_read_json_names_the_json_type_it_got(raw, name):
    with pytest.raises(InvalidJson, match=f"got {name}"):
        read_json(json_request(raw))


def test_read_json_accepts_an_array_when_it_expects_an_object_or_an_array():
    assert read_json(json_request(b"[1]"), expect=(dict, list)) == [1]


def test_read_json_names_every_type_it_expects():
    with pytest.raises(InvalidJson, match="must be a JSON object or array, got string"):
        read_json(json_request(b'"x"'), expect=(dict, list))


def test_nul_paths_name_each_string_holding_a_nul_by_its_dotted_path():
    document = {"event": "a\x00", "traits": {"name": "b\x00", "ok": "c"}, "items": ["d", "e\x00"]}
    assert nul_paths(document) == ["event", "items.1", "traits.name"]


def test_nul_paths_name_a_key_holding_a_nul_with_the_nul_escaped():
    assert nul_paths({"k\x00y": 1}) == ["k\\u0000y"]


def test_nul_paths_find_nothing_in_a_document_without_one():
    assert nul_paths({"event": "\\u0000", "n": 1, "list": [None, True, 2.5]}) == []


def test_refuse_nul_answers_400_naming_every_field():
    with pytest.raises(ValidationFailed) as refused:
        refuse_nul({"a": "x\x00", "b": {"c": "\x00"}})
    assert refused.value.status == 400
    assert set(refused.value.errors) == {"a", "b.c"}


def test_refuse_nul_skips_the_search_when_the_json_text_holds_no_escaped_nul():
    refuse_nul({"a": "x\x00"}, raw=b'{"a": "x"}')  # the text is what was sent: it cannot hold a NUL
