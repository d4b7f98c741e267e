"""What a flow request is: its source (GitHub, Stripe or custom), event name, data and dedupe key. Pure.

- GitHub: the `X-GitHub-Event` header names the event; `X-GitHub-Delivery` identifies the delivery
  (the same on a redelivery). The whole body is the data.
- Stripe: an event object (`"object": "event"`, `id` evt_..., `type`); `type` names the event and `id`
  identifies it across Stripe's retries. The whole body is the data.
- Custom: `{"event", "data", "timestamp"}`, or any object with an `event` field, the rest of it being
  the data. An `Idempotency-Key` header, else a body `id`, identifies it.
"""

import hashlib
from dataclasses import dataclass

MAX_EVENT_NAME = 200
MAX_DEDUPE_VALUE = 500


@dataclass(frozen=True)
class FlowMessage:
    source: str  # github | stripe | custom
    event: str | None
    data: object
    dedupe_key: str | None  # a hash of what identifies the message to its sender, or None
    timestamp: str | None = None  # when the sender says it happened (custom bodies' `timestamp`)


def _header(headers, name: str) -> str | None:
    value = headers.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def is_stripe_event(body) -> bool:
    return (
        isinstance(body, dict)
        and body.get("object") == "event"
        and isinstance(body.get("type"), str)
        and isinstance(body.get("id"), str)
        and body["id"].startswith("evt_")
    )


def dedupe_key(kind: str, value) -> str | None:
    """Return the stored form of a dedupe value: a SHA-256 of its kind and text, or None if unusable."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    if not text or len(text) > MAX_DEDUPE_VALUE:
        return None
    return hashlib.sha256(f"{kind}:{text}".encode()).hexdigest()


def read_message(headers, body) -> FlowMessage:
    """Return what a flow request carries; `event` is None when it names no event."""
    github_event = _header(headers, "X-GitHub-Event")
    idempotency = _header(headers, "Idempotency-Key")
    if github_event is not None:
        delivery = _header(headers, "X-GitHub-Delivery")
        key = dedupe_key("github", delivery) if delivery else dedupe_key("idempotency", idempotency)
        return FlowMessage("github", github_event, body, key)
    if is_stripe_event(body):
        return FlowMessage("stripe", body["type"], body, dedupe_key("stripe", body["id"]))
    if not isinstance(body, dict):
        return FlowMessage("custom", None, body, None)
    event = body.get("event")
    event = event.strip() if isinstance(event, str) and event.strip() else None
    data = body["data"] if "data" in body else {name: value for name, value in body.items() if name != "event"}
    key = dedupe_key("idempotency", idempotency) if idempotency else dedupe_key("id", body.get("id"))
    timestamp = body.get("timestamp") if "data" in body else None
    if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)
    timestamp = timestamp[:64] if isinstance(timestamp, str) else None
    return FlowMessage("custom", event, data, key, timestamp)


def event_name_problem(event: str | None) -> str | None:
    """Return why an event name cannot be used (it becomes the outbound type `flow.<event>`), or None."""
    if event is None:
        return (
            "No event name: send `event` in the body, or the X-GitHub-Event header (GitHub), or a Stripe "
            "event object with `type`."
        )
    if len(event) > MAX_EVENT_NAME:
        return f"The event name is longer than {MAX_EVENT_NAME} characters."
    if not event.isprintable():
        return "The event name may not contain control characters."
    if "*" in event:
        return "The event name may not contain `*`: subscriptions use it as a wildcard."
    return None


def idempotency_key_problem(headers) -> str | None:
    """Return why an Idempotency-Key header cannot be used, or None."""
    value = _header(headers, "Idempotency-Key")
    if value is not None and len(value) > MAX_DEDUPE_VALUE:
        return f"Idempotency-Key is longer than {MAX_DEDUPE_VALUE} characters."
    return None
