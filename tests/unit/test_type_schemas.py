"""JSON Schemas of event types: which are refused when given, and where an event's data fails one."""

import time

import pytest

from hookyard.outbound import type_schemas
from hookyard.outbound.type_schemas import (
    MAX_ERRORS,
    TOO_DEEP,
    TOO_LONG,
    compile_validator,
    data_errors,
    schema_problems,
)

ORDER = {
    "type": "object",
    "required": ["order"],
    "properties": {
        "order": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string", "pattern": "^ord_"},
                "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}},
            },
        }
    },
    "$defs": {"line": {"type": "object", "properties": {"quantity": {"type": "integer", "minimum": 1}}}},
}


def errors_of(schema, data):
    assert schema_problems(schema) == {}
    return data_errors(compile_validator(schema), data)


def test_data_that_fits_has_no_errors():
    assert errors_of(ORDER, {"order": {"id": "ord_1", "lines": [{"quantity": 2}]}}) == {}


def test_each_failing_path_is_named_from_data():
    data = {"order": {"id": 7, "lines": [{"quantity": 1}, {"quantity": 0}]}}
    assert errors_of(ORDER, data) == {
        "data.order.id": ["7 is not of type 'string'"],
        "data.order.lines.1.quantity": ["0 is less than the minimum of 1"],
    }


def test_a_missing_property_is_named_at_its_parent():
    assert errors_of(ORDER, {"order": {}}) == {"data.order": ["'id' is a required property"]}


def test_errors_are_capped():
    schema = {"type": "object", "additionalProperties": {"type": "string"}}
    found = errors_of(schema, {f"k{i}": i for i in range(100)})
    assert sum(len(messages) for messages in found.values()) == MAX_ERRORS


def test_long_values_are_cut_in_messages():
    (message,) = errors_of({"type": "integer"}, "x" * 10_000)["data"]
    assert len(message) <= 300


@pytest.mark.parametrize(
    "dialect",
    [
        "http://json-schema.org/draft-04/schema#",
        "http://json-schema.org/draft-06/schema#",
        "http://json-schema.org/draft-07/schema#",
        "https://json-schema.org/draft/2019-09/schema",
        "https://json-schema.org/draft/2020-12/schema",
    ],
)
def test_every_dialect_from_draft_4_is_accepted(dialect):
    schema = {
        "$schema": dialect,
        "definitions": {"n": {"type": "integer"}},
        "properties": {"n": {"$ref": "#/definitions/n"}},
    }
    assert errors_of(schema, {"n": "one"}) == {"data.n": ["'one' is not of type 'integer'"]}


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"type": "strin"}, "schema.type"),
        ({"required": "id"}, "schema.required"),
        ({"pattern": "("}, "schema.pattern"),
        ({"$schema": "https://example.com/dialect"}, "schema.$schema"),
        ({"$schema": 4}, "schema.$schema"),
        ({"$ref": "#/$defs/missing"}, "schema"),
        ({"properties": {"a": {"$ref": "https://example.com/remote.json"}}}, "schema"),
        ({"description": "x" * 70_000}, "schema"),
    ],
)
def test_a_schema_that_cannot_be_used_is_refused_naming_where(schema, field):
    assert list(schema_problems(schema)) == [field]


def test_refs_to_the_specifications_and_nested_ids_resolve_without_the_network():
    assert schema_problems({"$ref": "https://json-schema.org/draft/2020-12/schema"}) == {}
    nested = {
        "$id": "https://example.com/root",
        "properties": {"a": {"$id": "a", "$defs": {"x": {}}, "$ref": "#/$defs/x"}},
    }
    assert schema_problems(nested) == {}


def test_a_ref_that_slipped_through_is_a_data_error_not_a_crash():
    found = data_errors(compile_validator({"$ref": "#/$defs/missing"}), 1)
    assert list(found) == ["data"]


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
        {"anyOf": [{"not": {"$ref": "#"}}]},
        {"if": {"type": "string"}, "then": {"$ref": "#"}},
    ],
)
def test_refs_going_round_in_circles_are_refused_not_a_crash(schema):
    assert schema_problems(schema) == {"schema": [TOO_DEEP]}
    assert data_errors(compile_validator(schema), "x") == {"data": [TOO_DEEP]}


def test_a_loop_only_some_data_reaches_is_a_data_error():
    schema = {"if": {"const": "loop"}, "then": {"$ref": "#"}}
    assert schema_problems(schema) == {}
    assert data_errors(compile_validator(schema), "loop") == {"data": [TOO_DEEP]}
    assert data_errors(compile_validator(schema), "fine") == {}


def doubling_refs(levels: int) -> dict:
    """Each definition refers to the one below twice: 2**levels steps for a value none of them accepts."""
    definitions = {"d0": {"type": "integer"}}
    for level in range(1, levels + 1):
        below = {"$ref": f"#/$defs/d{level - 1}"}
        definitions[f"d{level}"] = {"anyOf": [below, below]}
    return {"$defs": definitions}


def test_refs_that_multiply_the_work_are_stopped_at_the_deadline(monkeypatch):
    monkeypatch.setattr(type_schemas, "MAX_CHECK_SECONDS", 0.05)
    started = time.monotonic()
    assert schema_problems({**doubling_refs(40), "$ref": "#/$defs/d40"}) == {"schema": [TOO_LONG]}
    only_for_boom = {**doubling_refs(40), "if": {"const": "boom"}, "then": {"$ref": "#/$defs/d40"}}
    assert schema_problems(only_for_boom) == {}
    assert data_errors(compile_validator(only_for_boom), "boom") == {"data": [TOO_LONG]}
    assert data_errors(compile_validator(only_for_boom), "fine") == {}
    assert time.monotonic() - started < 1


def test_a_recursive_schema_follows_data_as_deep_as_a_body_may_nest():
    data = {"x": 5}
    for _ in range(61):
        data = {"x": data}
    found = errors_of({"type": "object", "properties": {"x": {"$ref": "#"}}}, data)
    assert list(found) == ["data" + ".x" * 62]


def test_a_pathological_pattern_gives_up_quickly_as_an_error():
    started = time.monotonic()
    found = errors_of({"pattern": "^(a|aa)+$"}, "a" * 5000 + "!")
    assert time.monotonic() - started < 1
    assert found == {"data": ["Matching '^(a|aa)+$' took too long."]}


def test_pattern_properties_run_under_the_same_timeout():
    schema = {"patternProperties": {"^n_": {"type": "integer"}}}
    assert errors_of(schema, {"n_a": "x", "other": "y"}) == {"data.n_a": ["'x' is not of type 'integer'"]}
