"""Mapping rules, evaluated: does a rule match a signal, what lead fields it maps, what rule to suggest.

Pure and shared by the web (validating rules, `POST /v1/mapping-rules/test`) and the worker (mapping
signals as they are stored, and on apply). No database, no Redis.

Paths use dot notation into the payload (`context.page.url`); a number steps into a list
(`products.0.sku`). A path that leads nowhere is missing. Conditions of a rule must all match.
"""

import functools
import logging

import regex

logger = logging.getLogger(__name__)

OPERATORS = ("eq", "neq", "contains", "exists", "not_exists", "gt", "gte", "lt", "lte", "in", "regex")
NUMERIC = ("gt", "gte", "lt", "lte")
LEAD_FIELDS = ("email", "name", "company", "title")
MAX_PATTERN_LENGTH = 500
MAX_REGEX_INPUT = 10_000  # characters of a value a regex looks at
REGEX_TIMEOUT = 0.05  # seconds: a pathological pattern gives up rather than stall the worker
MISSING = object()

# Where Segment and common form tools put a person's fields, most specific first. A track call's
# `properties.name` and `properties.title` name a product or a page, not a person: not suggested.
SUGGESTED_PATHS = {
    "email": ["traits.email", "context.traits.email", "properties.email", "email"],
    "name": ["traits.name", "context.traits.name", "name"],
    "company": ["traits.company", "context.traits.company", "properties.company", "company"],
    "title": ["traits.title", "context.traits.title", "title"],
}


def get_path(payload, path: str):
    """Return the value at a dot path, or MISSING."""
    value = payload
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, MISSING)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a, b) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _as_number(value):
    if _is_number(value):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str):
    return regex.compile(pattern)


def condition_problem(condition: dict) -> str | None:
    """Return why a condition cannot be saved, or None."""
    op, value = condition.get("op"), condition.get("value")
    path = condition.get("field")
    if not isinstance(path, str) or not path or any(part == "" for part in path.split(".")):
        return f"`field` must be a dot path into the payload like properties.form_name, got {path!r}."
    if op not in OPERATORS:
        return f"Unknown operator {op!r}; use one of {', '.join(OPERATORS)}."
    if op in NUMERIC and not _is_number(value):
        return f"`{op}` compares numbers: `value` must be a number, got {value!r}."
    if op == "in" and not isinstance(value, list):
        return f"`in` needs a list of values, got {value!r}."
    if op == "contains" and value is None:
        return "`contains` needs a value."
    if op == "regex":
        if not isinstance(value, str) or not value:
            return f"`regex` needs a pattern string, got {value!r}."
        if len(value) > MAX_PATTERN_LENGTH:
            return f"The pattern is longer than {MAX_PATTERN_LENGTH} characters."
        try:
            _compiled(value)
        except regex.error as error:
            return f"The pattern does not compile: {error}."
    return None


def condition_matches(condition: dict, payload: dict) -> bool:
    """Tell whether one (valid) condition holds for a payload."""
    op, expected = condition["op"], condition.get("value")
    actual = get_path(payload, condition["field"])
    if op == "exists":
        return actual is not MISSING and actual is not None
    if op == "not_exists":
        return actual is MISSING or actual is None
    if op == "neq":
        return actual is MISSING or not _same(actual, expected)
    if actual is MISSING:
        return False
    if op == "eq":
        return _same(actual, expected)
    if op == "contains":
        if isinstance(actual, str):
            return isinstance(expected, str) and expected in actual
        if isinstance(actual, list):
            return any(_same(item, expected) for item in actual)
        if isinstance(actual, dict):
            return isinstance(expected, str) and expected in actual
        return False
    if op == "in":
        items = actual if isinstance(actual, list) else [actual]
        return any(_same(item, option) for item in items for option in expected)
    if op in NUMERIC:
        number = _as_number(actual)
        if number is None:
            return False
        return {"gt": number > expected, "gte": number >= expected, "lt": number < expected, "lte": number <= expected}[
            op
        ]
    if op == "regex":
        if actual is None or isinstance(actual, (dict, list)):
            return False
        text = str(actual).lower() if isinstance(actual, bool) else str(actual)
        try:
            return _compiled(expected).search(text[:MAX_REGEX_INPUT], timeout=REGEX_TIMEOUT) is not None
        except TimeoutError:
            logger.warning("regex %r gave up after %.0f ms; counted as no match", expected, REGEX_TIMEOUT * 1000)
            return False
    return False


def rule_matches(rule, source: str | None, event: str | None, payload: dict) -> bool:
    """Tell whether a rule (anything with source, event, conditions) matches a signal."""
    if rule.source is not None and rule.source != source:
        return False
    if rule.event is not None and rule.event != event:
        return False
    return all(condition_matches(condition, payload) for condition in rule.conditions or ())


def why_not(rule, source: str | None, event: str | None, payload: dict) -> str | None:
    """Say why a rule does not match a signal (the first reason), or None when it does."""
    if rule.source is not None and rule.source != source:
        return f"its source is {source!r}, not {rule.source!r}"
    if rule.event is not None and rule.event != event:
        return f"its event is {event!r}, not {rule.event!r}"
    for number, condition in enumerate(rule.conditions or (), start=1):
        if not condition_matches(condition, payload):
            value = get_path(payload, str(condition.get("field", "")))
            shown = "absent" if value is MISSING else repr(value)[:80]
            expected = "" if condition.get("op") in ("exists", "not_exists") else f" {condition.get('value')!r}"
            return (
                f"condition {number} fails: {condition.get('field')} {condition.get('op')}{expected}, but it is {shown}"
            )
    return None


def leaf_paths(value, prefix: str = "", limit: int = 500) -> list[tuple[str, object]]:
    """Every leaf of a JSON value with its dot path (`context.traits.email`, `products.0.sku`), in order."""
    found, stack = [], [(prefix, value)]
    while stack and len(found) < limit:
        path, node = stack.pop()
        if isinstance(node, dict) and node:
            stack.extend((f"{path}.{key}" if path else str(key), item) for key, item in reversed(node.items()))
        elif isinstance(node, list) and node:
            stack.extend(
                (f"{path}.{index}" if path else str(index), item) for index, item in reversed(list(enumerate(node)))
            )
        else:
            found.append((path, node))
    return found


def first_match(rules, source: str | None, event: str | None, payload: dict):
    """Return the first rule (in the given order) that matches, or None."""
    return next((rule for rule in rules if rule_matches(rule, source, event, payload)), None)


def mapped_fields(field_map: dict, payload: dict) -> dict:
    """Return the lead fields a rule's field_map finds in a payload: non-empty strings only."""
    found = {}
    for field, path in (field_map or {}).items():
        value = get_path(payload, path)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip():
            found[field] = value.strip().lower() if field == "email" else value.strip()[:255]
    if "email" in found and ("@" not in found["email"] or len(found["email"]) > 320):
        del found["email"]
    return found


def suggest_rule(source: str, event: str | None, sample: dict) -> dict:
    """Return a draft rule for a group of signals, pre-filled from one sample's structure."""
    field_map = {}
    for field, paths in SUGGESTED_PATHS.items():
        for path in paths:
            value = get_path(sample, path)
            if isinstance(value, dict) and isinstance(value.get("name"), str):
                path, value = f"{path}.name", value["name"]  # Segment's company object
            if isinstance(value, str) and value.strip():
                field_map[field] = path
                break
    name = (event or source).replace("_", " ").strip()
    return {
        "name": f"{name} ({source})",
        "source": source,
        "event": event,
        "conditions": [],
        "field_map": field_map,
        "signal_name": name.title() if name.islower() else name,
        "score": 10,
        "priority": 0,
        "active": True,
    }
