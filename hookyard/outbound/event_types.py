"""The catalogue of outbound event types and subscription patterns (`*`, `prefix.*`). Pure, no I/O."""

CATALOGUE = {
    "user.created": "A user was created.",
    "user.updated": "A user was updated.",
    "user.deleted": "A user was deleted.",
    "project.created": "A project was created.",
    "project.updated": "A project was updated.",
    "project.deleted": "A project was deleted.",
    "file.uploaded": "A file was uploaded.",
    "payment.succeeded": "A payment succeeded.",
    "payment.failed": "A payment failed.",
    "signal.received": "Hookyard stored a signal (not a duplicate).",
    "signal.mapped": "A mapping rule turned a signal into a named signal.",
    "lead.created": "A signal named a new lead.",
    "lead.updated": "A lead's fields or score changed.",
    "lead.identified": "An identify call linked an anonymousId or userId to a lead.",
    "activity.created": "An activity arrived on a custom webhook.",
    "activity.updated": "An activity with a known externalId arrived again.",
    "flow.*": "Any event a flow receives, as flow.<event> (flow.push, flow.payment_intent.succeeded, ...).",
    "webhook.test": "A test event sent by POST /v1/webhooks/<id>/test.",
}


def is_known_type(name: str) -> bool:
    """Tell whether an event type can be published: a catalogue name or any `flow.<event>`."""
    return (name in CATALOGUE and not name.endswith("*")) or (name.startswith("flow.") and len(name) > 5)


def is_valid_pattern(pattern: str) -> bool:
    """Tell whether a subscription pattern names known events: `*`, a known name, or `prefix.*`."""
    if pattern == "*" or is_known_type(pattern):
        return True
    if pattern.endswith(".*"):
        prefix = pattern[:-1]  # keeps the dot: "lead."
        return any(name.startswith(prefix) for name in CATALOGUE)
    return False


def matches(pattern: str, event_type: str) -> bool:
    """Tell whether a subscription pattern covers an event type."""
    if pattern == "*" or pattern == event_type:
        return True
    return pattern.endswith(".*") and event_type.startswith(pattern[:-1])


def subscribed(patterns: list[str], event_type: str) -> bool:
    """Tell whether any of an endpoint's patterns covers an event type."""
    return any(matches(pattern, event_type) for pattern in patterns)
