"""Rule evaluation as a pure function module: paths, every operator, validation, suggestions."""

import time
from types import SimpleNamespace

import pytest

from hookyard.mapping.rules import (
    MISSING,
    condition_matches,
    condition_problem,
    first_match,
    get_path,
    leaf_paths,
    mapped_fields,
    suggest_rule,
    why_not,
)
from models import MappingRule
from tests.helpers import payload

SIGNAL = {
    "event": "Demo Requested",
    "email": "ann@example.com",
    "properties": {
        "plan": "enterprise",
        "seats": 25,
        "price": "49.5",
        "form_name": "Contact us",
        "tags": ["b2b", "eu"],
        "trial": True,
        "coupon": None,
        "nested": {"deep": {"value": 1}},
    },
    "context": {"page": {"url": "https://acme.io/pricing?ref=ad"}},
    "products": [{"sku": "A-1"}, {"sku": "B-2"}],
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("event", "Demo Requested"),
        ("context.page.url", "https://acme.io/pricing?ref=ad"),
        ("properties.nested.deep.value", 1),
        ("products.1.sku", "B-2"),
        ("products.2.sku", MISSING),  # past the end
        ("products.x", MISSING),  # not an index
        ("properties.coupon", None),  # present, null
        ("properties.missing", MISSING),
        ("event.name", MISSING),  # through a string
        ("properties.tags.0", "b2b"),
    ],
)
def test_get_path_follows_dots_into_objects_and_lists(path, expected):
    assert get_path(SIGNAL, path) == expected if expected is not MISSING else get_path(SIGNAL, path) is MISSING


def check(field, op, value=None):
    return condition_matches({"field": field, "op": op, "value": value}, SIGNAL)


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("properties.plan", "eq", "enterprise", True),
        ("properties.plan", "eq", "Enterprise", False),  # case matters
        ("properties.seats", "eq", 25.0, True),  # 25 == 25.0 in JSON
        ("properties.trial", "eq", 1, False),  # true is not 1
        ("properties.coupon", "eq", None, True),
        ("properties.missing", "eq", None, False),  # missing is not null
        ("properties.nested", "eq", {"deep": {"value": 1}}, True),
        ("properties.plan", "neq", "free", True),
        ("properties.plan", "neq", "enterprise", False),
        ("properties.missing", "neq", "free", True),  # nothing there differs from "free"
        ("properties.form_name", "contains", "Contact", True),
        ("properties.form_name", "contains", "contact", False),
        ("properties.tags", "contains", "eu", True),  # list membership
        ("properties.tags", "contains", "us", False),
        ("properties.nested", "contains", "deep", True),  # object key
        ("properties.seats", "contains", "2", False),  # a number has no substrings
        ("properties.missing", "contains", "x", False),
        ("properties.plan", "exists", None, True),
        ("properties.coupon", "exists", None, False),  # null counts as absent
        ("properties.missing", "exists", None, False),
        ("properties.missing", "not_exists", None, True),
        ("properties.coupon", "not_exists", None, True),
        ("properties.plan", "not_exists", None, False),
        ("properties.seats", "gt", 24, True),
        ("properties.seats", "gt", 25, False),
        ("properties.seats", "gte", 25, True),
        ("properties.seats", "lt", 26.5, True),
        ("properties.seats", "lte", 24, False),
        ("properties.price", "gt", 49, True),  # numeric strings compare as numbers
        ("properties.plan", "gt", 1, False),  # a word is not a number
        ("properties.trial", "gt", 0, False),  # nor is a boolean
        ("properties.missing", "lt", 100, False),
        ("properties.coupon", "lt", 100, False),
        ("properties.plan", "in", ["pro", "enterprise"], True),
        ("properties.plan", "in", ["pro"], False),
        ("properties.tags", "in", ["us", "eu"], True),  # any list item
        ("properties.missing", "in", ["x"], False),
        ("context.page.url", "regex", r"/pricing(\?|$)", True),
        ("context.page.url", "regex", r"^/pricing", False),
        ("properties.seats", "regex", r"^\d+$", True),  # numbers are matched as text
        ("properties.trial", "regex", "^true$", True),  # booleans as JSON spells them
        ("properties.tags", "regex", "eu", False),  # lists and objects are not text
        ("properties.coupon", "regex", ".*", False),
        ("properties.missing", "regex", ".*", False),
        ("products.0.sku", "eq", "A-1", True),
    ],
)
def test_every_operator_on_present_missing_null_list_and_nested_values(field, op, value, expected):
    assert check(field, op, value) is expected


def test_a_catastrophic_regex_gives_up_instead_of_stalling_the_worker():
    condition = {"field": "text", "op": "regex", "value": r"^(a+)+$"}
    started = time.monotonic()
    assert condition_matches(condition, {"text": "a" * 5000 + "!"}) is False
    assert time.monotonic() - started < 5  # unbounded, this pattern runs for longer than the universe has


def test_regex_looks_only_at_the_first_10k_characters():
    assert condition_matches({"field": "t", "op": "regex", "value": "needle"}, {"t": "x" * 10_000 + "needle"}) is False
    assert condition_matches({"field": "t", "op": "regex", "value": "needle"}, {"t": "x" * 9_000 + "needle"}) is True


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ({"field": "a", "op": "like", "value": 1}, "Unknown operator 'like'"),
        ({"field": "a", "op": "gt", "value": "10"}, "`gt` compares numbers"),
        ({"field": "a", "op": "lte", "value": True}, "`lte` compares numbers"),
        ({"field": "a", "op": "in", "value": "pro"}, "`in` needs a list"),
        ({"field": "a", "op": "regex", "value": "(unclosed"}, "The pattern does not compile"),
        ({"field": "a", "op": "regex", "value": "a" * 501}, "longer than 500"),
        ({"field": "a", "op": "regex", "value": ""}, "`regex` needs a pattern"),
        ({"field": "a", "op": "contains"}, "`contains` needs a value"),
        ({"field": "a..b", "op": "exists"}, "`field` must be a dot path"),
        ({"field": "", "op": "exists"}, "`field` must be a dot path"),
    ],
)
def test_conditions_that_cannot_work_are_refused_with_the_reason(condition, problem):
    assert problem in condition_problem(condition)


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "a", "op": "gt", "value": 1.5},
        {"field": "a.0.b", "op": "exists"},
        {"field": "a", "op": "in", "value": []},
        {"field": "a", "op": "regex", "value": "^x"},
    ],
)
def test_sound_conditions_pass(condition):
    assert condition_problem(condition) is None


def rule(rule_id, priority=0, **fields):
    return MappingRule(
        id=rule_id,
        priority=priority,
        source=fields.get("source"),
        event=fields.get("event"),
        conditions=fields.get("conditions", []),
    )


def test_first_match_keeps_the_given_order_and_requires_every_condition():
    rules = [
        rule(1, event="Signed Up"),
        rule(
            2,
            conditions=[
                {"field": "properties.plan", "op": "eq", "value": "enterprise"},
                {"field": "properties.seats", "op": "gt", "value": 100},
            ],
        ),
        rule(3, source="segment"),
        rule(4, conditions=[{"field": "properties.plan", "op": "exists"}]),
        rule(5),
    ]
    assert first_match(rules, "generic", "Demo Requested", SIGNAL).id == 4
    assert first_match(rules, "generic", "Signed Up", SIGNAL).id == 1
    assert first_match(rules, "segment", "Demo Requested", SIGNAL).id == 3
    assert first_match(rules[:3], "generic", "x", SIGNAL) is None


def test_mapped_fields_takes_non_empty_text_and_checks_the_email():
    body = {"traits": {"email": " Ann@Example.COM ", "name": "Ann", "company": "", "title": 7}}
    assert mapped_fields(
        {"email": "traits.email", "name": "traits.name", "company": "traits.company", "title": "traits.title"}, body
    ) == {"email": "ann@example.com", "name": "Ann", "title": "7"}
    assert mapped_fields({"email": "traits.name"}, body) == {}  # "Ann" is not an email
    assert mapped_fields({"email": "traits.missing"}, body) == {}


def test_suggestions_find_segment_identify_traits():
    suggested = suggest_rule("segment", "identify", payload("segment_identify.json"))
    assert suggested["field_map"] == {"email": "traits.email", "name": "traits.name"}
    assert suggested["source"] == "segment"
    assert suggested["event"] == "identify"
    assert suggested["conditions"] == []


def test_suggestions_find_context_traits_and_segment_company_objects():
    sample = {
        "context": {"traits": {"email": "a@b.io", "company": {"name": "Initech", "plan": "x"}, "title": "CTO"}},
        "properties": {"title": "Pricing"},
    }
    assert suggest_rule("segment", "Demo Requested", sample)["field_map"] == {
        "email": "context.traits.email",
        "company": "context.traits.company.name",
        "title": "context.traits.title",
    }


def test_suggestions_do_not_take_a_track_calls_product_name_for_a_person():
    suggested = suggest_rule("segment", "Course Clicked", payload("segment_track_spec.json"))
    assert suggested["field_map"] == {}  # properties.title is the course's title
    assert suggested["signal_name"] == "Course Clicked"
    assert suggest_rule("generic", "demo_requested", {"email": "x@y.io"})["signal_name"] == "Demo Requested"


def test_leaf_paths_name_every_leaf_in_dot_notation_in_order():
    payload = {"context": {"traits": {"email": "a@x.io"}}, "products": [{"sku": "A-1"}, {"sku": "B-2"}], "n": 1}
    assert leaf_paths(payload) == [
        ("context.traits.email", "a@x.io"),
        ("products.0.sku", "A-1"),
        ("products.1.sku", "B-2"),
        ("n", 1),
    ]
    assert leaf_paths({"empty": {}, "none": None}) == [("empty", {}), ("none", None)]


def test_why_not_names_the_first_failing_part_of_a_rule():
    rule = SimpleNamespace(
        source="segment",
        event="Demo Requested",
        conditions=[{"field": "properties.plan", "op": "in", "value": ["pro"]}, {"field": "x", "op": "exists"}],
    )
    assert why_not(rule, "forms", "Demo Requested", {}) == "its source is 'forms', not 'segment'"
    assert why_not(rule, "segment", "Signed Up", {}) == "its event is 'Signed Up', not 'Demo Requested'"
    assert why_not(rule, "segment", "Demo Requested", {"properties": {"plan": "free"}}) == (
        "condition 1 fails: properties.plan in ['pro'], but it is 'free'"
    )
    assert why_not(rule, "segment", "Demo Requested", {"properties": {"plan": "pro"}}) == (
        "condition 2 fails: x exists, but it is absent"
    )
    assert why_not(rule, "segment", "Demo Requested", {"properties": {"plan": "pro"}, "x": 1}) is None
