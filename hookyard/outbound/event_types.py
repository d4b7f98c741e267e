"""The built-in outbound event types, the rules for the names of an organization's own, and subscription
patterns (`*`, `prefix.*`). Pure, no I/O: an organization's own types are the caller's to pass in."""

import re

# The seed's sample types: built in, and an organization may change or archive them.
SAMPLE_TYPES = {
    "user.created": "A user was created.",
    "user.updated": "A user was updated.",
    "user.deleted": "A user was deleted.",
    "project.created": "A project was created.",
    "project.updated": "A project was updated.",
    "project.deleted": "A project was deleted.",
    "file.uploaded": "A file was uploaded.",
    "payment.succeeded": "A payment succeeded.",
    "payment.failed": "A payment failed.",
}

# Operational events: Hookyard saying something needs a person. Published whether or not anyone subscribes.
OPERATIONAL_TYPES = {
    "delivery.exhausted": "A delivery failed its last attempt; it will not be retried unless replayed.",
    "webhook.disabled": "An endpoint was disabled: it answered 410 Gone, or failed every attempt for 5 days.",
    "import.completed": "A bulk import finished, with its totals.",
    "signal.dead_lettered": "A signal could not be stored and was set aside as a dead letter.",
    "flow.rate_limited": "A flow refused a request over its rate limit (the first refusal in a minute).",
}

# Hookyard publishes these itself, so they are read-only; their prefixes are reserved.
HOOKYARD_TYPES = {
    "signal.received": "Hookyard stored a signal (not a duplicate).",
    "signal.mapped": "A mapping rule turned a signal into a named signal.",
    "lead.created": "A signal named a new lead.",
    "lead.updated": "A lead's fields or score changed.",
    "lead.identified": "An identify call linked an anonymousId or userId to a lead.",
    "activity.created": "An activity arrived on a custom webhook.",
    "activity.updated": "An activity with a known externalId arrived again.",
    "flow.*": "Any event a flow receives, as flow.<event> (flow.push, flow.payment_intent.succeeded, ...).",
    "webhook.test": "A test event sent by POST /v1/webhooks/<id>/test.",
    **OPERATIONAL_TYPES,
}


BUILTIN_TYPES = {**SAMPLE_TYPES, **HOOKYARD_TYPES}
RESERVED_PREFIXES = tuple(sorted({name.split(".", 1)[0] + "." for name in HOOKYARD_TYPES}))
FLOW_PREFIX = "flow."
MAX_NAME_LENGTH = 255
NAME_RULE = re.compile(r"[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*")


def kind_of(name: str) -> str:
    """Return who owns an event type name: `hookyard` (read-only), `sample` (built in) or `custom`."""
    if name in HOOKYARD_TYPES or (name.startswith(FLOW_PREFIX) and len(name) > len(FLOW_PREFIX)):
        return "hookyard"
    return "sample" if name in SAMPLE_TYPES else "custom"


def builtin_description(name: str) -> str | None:
    """Return the description of a built-in type (any `flow.<event>` too), or None for any other name."""
    if kind_of(name) == "hookyard" and name not in HOOKYARD_TYPES:
        return HOOKYARD_TYPES["flow.*"]
    return BUILTIN_TYPES.get(name)


def name_problem(name: str) -> str | None:
    """Return why an organization cannot name a new event type so, or None; a built-in name is no problem
    here (it exists: the caller answers that)."""
    if len(name) > MAX_NAME_LENGTH:
        return f"Longer than {MAX_NAME_LENGTH} characters."
    if not NAME_RULE.fullmatch(name):
        return "Use lowercase letters, digits, `_` and `-` in dot-separated segments, like `user.rotated`."
    if builtin_description(name) is None and name.startswith(RESERVED_PREFIXES):
        prefix = name.split(".", 1)[0]
        return f"`{prefix}.*` names are Hookyard's own events; choose another prefix."
    return None


def is_valid_pattern(pattern: str, active_names) -> bool:
    """Tell whether a subscription pattern covers an active type: `*`, an active name, or `prefix.*`.

    Args:
        pattern: what a webhook's `events` holds.
        active_names: the organization's type names that are not archived, built-in ones included.
    """
    if pattern == "*":
        return True
    if "*" not in pattern:
        return pattern in active_names or kind_of(pattern) == "hookyard"
    prefix = pattern[:-1]  # keeps the dot: "lead."
    if not pattern.endswith(".*") or "*" in prefix or prefix == ".":
        return False
    return prefix.startswith(FLOW_PREFIX) or any(name.startswith(prefix) for name in active_names)


def matches(pattern: str, event_type: str) -> bool:
    """Tell whether a subscription pattern covers an event type."""
    if pattern == "*" or pattern == event_type:
        return True
    return pattern.endswith(".*") and event_type.startswith(pattern[:-1])


def subscribed(patterns: list[str], event_type: str) -> bool:
    """Tell whether any of an endpoint's patterns covers an event type."""
    return any(matches(pattern, event_type) for pattern in patterns)
