"""JSON Schemas of event types: checking one an organization gives, and checking an event's `data` against it.

Pure, no I/O. This runs in a web request, so every check is bounded:
- `$ref`s resolve only within the schema and the JSON Schema specifications, never over the network;
- `pattern` and `patternProperties` run with a timeout (the `regex` module);
- keywords nest at most MAX_NESTING deep, far from Python's recursion limit, which a `$ref` loop would reach
  (and a RecursionError inside jsonschema's Rust-backed registry is a panic that no handler catches);
- one check stops after MAX_CHECK_SECONDS, since `$ref`s can make a small schema's work exponential.
"""

import functools
import itertools
import threading
import time

import jsonschema
import orjson
import regex
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema_specifications import REGISTRY as SPECIFICATIONS
from referencing.exceptions import Unresolvable
from referencing.jsonschema import specification_with

MAX_SCHEMA_BYTES = 64 * 1024
MAX_ERRORS = 20  # of one event's data: enough to fix it, not a report the size of the event
MAX_MESSAGE = 300  # characters: jsonschema's messages repeat the value, which may be large
REGEX_TIMEOUT = 0.05  # seconds: a pathological pattern gives up rather than stall the web process
DEFAULT_DIALECT = jsonschema.Draft202012Validator
MAX_NESTING = 128  # keywords within keywords: a body nests 64 levels at most, a recursive schema ~2 per level
MAX_CHECK_SECONDS = 0.5  # for one event: a few KB of data takes under 1 ms, 1 MB about half a second
TOO_DEEP = f"The schema nests deeper than {MAX_NESTING} keywords here: do its $refs go round in circles?"
TOO_LONG = (
    f"Checking against the schema took over {MAX_CHECK_SECONDS * 1000:.0f} ms: "
    "send less data, or use a schema whose $refs do not multiply the work."
)

_budget = threading.local()  # per greenlet in a gevent-patched process: `depth` and `deadline` of this check


class OverBudget(Exception):
    """A check went MAX_NESTING keywords deep or past its deadline; the message says which."""


def schema_problems(schema: dict) -> dict[str, list[str]]:
    """Return what is wrong with a schema given for an event type, by path (`schema.properties.id.type`).

    Returns an empty dict for a usable schema: its dialect known, valid against its metaschema, every
    `$ref` resolving and every pattern compiling.
    """
    if len(orjson.dumps(schema)) > MAX_SCHEMA_BYTES:
        return {"schema": [f"Larger than {MAX_SCHEMA_BYTES // 1024} KB as JSON."]}
    dialect = _dialect(schema)
    if dialect is None:
        return {"schema.$schema": ["Not a JSON Schema dialect this server knows (draft 4 to 2020-12)."]}
    try:
        dialect.check_schema(schema)
    except SchemaError as error:
        return {_path("schema", error.absolute_path): [_short(error.message)]}
    problems = _reference_problems(dialect, schema)
    if not problems:
        problems = _probe(compile_validator(schema))
    return problems


def compile_validator(schema: dict):
    """Return the validator of a checked schema, for `data_errors` (cheap: a few microseconds)."""
    return _bounded(_dialect(schema) or DEFAULT_DIALECT)(schema)


def data_errors(validator, data) -> dict[str, list[str]]:
    """Return where `data` fails its schema, by path (`data.user.id`, `data.items.0`); empty when it passes."""
    found: dict[str, list[str]] = {}
    _budget.depth, _budget.deadline = 0, time.monotonic() + MAX_CHECK_SECONDS
    errors = validator.iter_errors(data)
    try:
        for error in itertools.islice(errors, MAX_ERRORS):
            found.setdefault(_path("data", error.absolute_path), []).append(_short(error.message))
    except Unresolvable as error:  # refused when the schema was given; kept from being a 500 regardless
        return {"data": [f"The event type's schema has a $ref that does not resolve: {error}."]}
    except OverBudget as error:
        return {"data": [str(error)]}
    finally:
        errors.close()
    return found


def _dialect(schema: dict):
    """Return the validator class of the schema's `$schema` (2020-12 without one), None if unknown."""
    dialect_id = schema.get("$schema")
    if dialect_id is None:
        return DEFAULT_DIALECT
    if not isinstance(dialect_id, str):
        return None
    return jsonschema.validators.validator_for(schema, default=None)


def _probe(validator) -> dict[str, list[str]]:
    """Check a few simple values, to refuse a schema whose `$ref`s loop or multiply for any of them."""
    for instance in (None, {}, [], "", 0):
        problem = next((p for p in data_errors(validator, instance).get("data", ()) if p in (TOO_DEEP, TOO_LONG)), None)
        if problem:
            return {"schema": [problem]}
    return {}


def _reference_problems(dialect, schema: dict) -> dict[str, list[str]]:
    """Return the `$ref`s that do not resolve within the schema and patterns `regex` cannot compile."""
    root = specification_with(dialect.ID_OF(dialect.META_SCHEMA)).create_resource(schema)
    problems: dict[str, list[str]] = {}
    stack = [(root, SPECIFICATIONS.resolver_with_root(root))]
    while stack:
        resource, resolver = stack.pop()
        resolver = resolver.in_subresource(resource)
        contents = resource.contents if isinstance(resource.contents, dict) else {}
        if isinstance(contents.get("$ref"), str):
            try:
                resolver.lookup(contents["$ref"])
            except Unresolvable:
                problems.setdefault("schema", []).append(f"$ref {contents['$ref']!r} does not resolve.")
        patterns = [contents.get("pattern"), *(contents.get("patternProperties") or {})]
        for pattern in (p for p in patterns if isinstance(p, str)):
            if _compiled(pattern) is None:
                problems.setdefault("schema", []).append(f"Pattern {pattern!r} is not one this server can run.")
        stack.extend((child, resolver) for child in resource.subresources())
    return problems


@functools.cache
def _bounded(dialect):
    """Return the dialect with every keyword bounded (MAX_NESTING, the deadline) and patterns under a timeout."""
    keywords = {**dialect.VALIDATORS, "pattern": _pattern, "patternProperties": _pattern_properties}
    return jsonschema.validators.extend(dialect, {name: _counted(check) for name, check in keywords.items()})


def _counted(check):
    """Wrap a keyword's check to raise OverBudget past MAX_NESTING deep or past the deadline, not go on."""

    def counted(validator, value, instance, schema):
        depth = getattr(_budget, "depth", 0)
        if depth >= MAX_NESTING:
            raise OverBudget(TOO_DEEP)
        if time.monotonic() > getattr(_budget, "deadline", 0):
            raise OverBudget(TOO_LONG)
        _budget.depth = depth + 1
        try:
            yield from check(validator, value, instance, schema) or ()
        finally:
            _budget.depth = depth

    return counted


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str):
    try:
        return regex.compile(pattern)
    except (regex.error, TypeError, ValueError):
        return None


def _search(pattern: str, text: str) -> bool | None:
    """Tell whether `pattern` matches somewhere in `text`; None when it gave up (or cannot run)."""
    compiled = _compiled(pattern)
    if compiled is None:
        return None
    try:
        return compiled.search(text, timeout=REGEX_TIMEOUT) is not None
    except TimeoutError:
        return None


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string"):
        found = _search(pattern, instance)
        if found is None:
            yield ValidationError(f"Matching {pattern!r} took too long.")
        elif not found:
            yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator, patterns, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            found = _search(pattern, key)
            if found is None:
                yield ValidationError(f"Matching {pattern!r} against {key!r} took too long.")
            elif found:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _path(root: str, parts) -> str:
    return ".".join([root, *(str(part) for part in parts)])


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
