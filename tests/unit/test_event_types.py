"""Event type names, who owns them, and subscription patterns against an organization's active types."""

import pytest

from hookyard.outbound.event_types import (
    BUILTIN_TYPES,
    HOOKYARD_TYPES,
    SAMPLE_TYPES,
    builtin_description,
    is_valid_pattern,
    kind_of,
    matches,
    name_problem,
    subscribed,
)

ACTIVE = set(BUILTIN_TYPES) | {"user.rotated", "invoice.paid"}


def test_the_catalogue_holds_the_nine_samples_and_hookyards_own():
    assert len(SAMPLE_TYPES) == 9
    assert {"signal.received", "lead.identified", "activity.created", "flow.*", "webhook.test"} <= set(HOOKYARD_TYPES)
    assert not set(SAMPLE_TYPES) & set(HOOKYARD_TYPES)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("signal.received", "hookyard"),
        ("flow.*", "hookyard"),
        ("flow.push", "hookyard"),
        ("flow.payment_intent.succeeded", "hookyard"),
        ("user.created", "sample"),
        ("user.rotated", "custom"),
        ("flow.", "custom"),
        ("flowers.sold", "custom"),
    ],
)
def test_each_name_has_one_owner(name, kind):
    assert kind_of(name) == kind


def test_any_flow_event_is_described_as_the_flow_entry():
    assert builtin_description("flow.push") == HOOKYARD_TYPES["flow.*"]
    assert builtin_description("user.rotated") is None


@pytest.mark.parametrize(
    "name", ["user.rotated", "invoice", "a.b.c.d", "payment_intent.succeeded", "v2.user-key.rotated", "a" * 255]
)
def test_lowercase_dotted_names_are_fine(name):
    assert name_problem(name) is None


@pytest.mark.parametrize(
    "name", ["", "User.rotated", "user.*", "*", "user..rotated", ".user", "user.", "user rotated", "_user", "é.x"]
)
def test_other_names_are_refused(name):
    assert "lowercase" in name_problem(name)


def test_a_name_past_255_characters_is_refused():
    assert "255" in name_problem("a" * 256)


@pytest.mark.parametrize("name", ["signal.custom", "lead.scored", "activity.x", "webhook.sent"])
def test_hookyards_prefixes_are_reserved(name):
    assert "Hookyard's own" in name_problem(name)


def test_built_in_names_are_no_name_problem_they_exist():
    assert name_problem("signal.received") is None
    assert name_problem("user.created") is None


@pytest.mark.parametrize(
    "pattern",
    ["*", "user.rotated", "user.*", "invoice.*", "lead.*", "flow.*", "flow.push", "flow.payment_intent.*", "signal.*"],
)
def test_patterns_covering_an_active_type_are_valid(pattern):
    assert is_valid_pattern(pattern, ACTIVE)


@pytest.mark.parametrize("pattern", ["nope", "bogus.*", "user*", "user.*.x", ".*", "**", "user.**", "invoice.paid.*"])
def test_patterns_covering_no_active_type_are_not(pattern):
    assert not is_valid_pattern(pattern, ACTIVE)


def test_an_archived_type_is_no_longer_a_valid_pattern():
    assert not is_valid_pattern("invoice.paid", ACTIVE - {"invoice.paid"})
    assert not is_valid_pattern("invoice.*", ACTIVE - {"invoice.paid"})


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("*", "user.rotated", True),
        ("user.rotated", "user.rotated", True),
        ("user.*", "user.rotated", True),
        ("user.*", "user.a.b", True),
        ("user.*", "users.rotated", False),
        ("user.rotated", "user.created", False),
        ("flow.*", "flow.push", True),
    ],
)
def test_patterns_match_event_types(pattern, event_type, expected):
    assert matches(pattern, event_type) is expected


def test_an_endpoint_is_subscribed_when_any_pattern_matches():
    assert subscribed(["payment.*", "user.rotated"], "user.rotated")
    assert not subscribed(["payment.*"], "user.rotated")
