"""Operational events: Hookyard telling an organization's subscribers (and its dashboard) that something needs them.

They are ordinary outbound events, stored whether or not anyone subscribes (the dashboard's overview lists
them), each published once: its idempotency key names what it is about. A delivery of an operational event
that fails for good raises no `delivery.exhausted`, so a subscriber that is down cannot start a loop; disabling
an endpoint is a one-time change, so `webhook.disabled` is bounded however it came about.
"""

import datetime

import orjson

from hookyard.core.clock import iso_z
from hookyard.outbound.event_types import OPERATIONAL_TYPES
from hookyard.outbound.publish import publish_event
from models import Event

DISABLE_AFTER = datetime.timedelta(days=5)  # an endpoint failing every attempt this long is disabled


def publish_operational(organization_id: int, event_type: str, data: dict, about: str, max_attempts: int) -> Event:
    """Store an operational event and a delivery to each subscriber; a second call about the same thing is a no-op."""
    if event_type not in OPERATIONAL_TYPES:
        raise ValueError(f"{event_type} is not an operational event type")
    return publish_event(
        organization_id, event_type, data, idempotency_key=f"hookyard:{event_type}:{about}", max_attempts=max_attempts
    )


def recent(organization_id: int, limit: int = 10) -> list[Event]:
    """The organization's newest operational events, for the overview."""
    mine = (Event.organization == organization_id) & Event.type.in_(sorted(OPERATIONAL_TYPES))
    return list(Event.select().where(mine).order_by(Event.created_at.desc()).limit(limit))


def exhausted_data(delivery, endpoint_id: str, event_id: str, event_type: str) -> dict:
    """What `delivery.exhausted` says: which delivery of which event to which endpoint, and how it last failed."""
    return {
        "delivery_id": delivery["id"],
        "endpoint_id": endpoint_id,
        "event_id": event_id,
        "event_type": event_type,
        "attempts": delivery["attempts"],
        "status_code": delivery["status_code"],
        "error": delivery["error"],
    }


def disabled_data(endpoint_id: str, url: str, reason: str, at: datetime.datetime) -> dict:
    """What `webhook.disabled` says."""
    return {"endpoint_id": endpoint_id, "url": url, "reason": reason, "disabled_at": iso_z(at)}


def summary(event: Event) -> str:
    """One sentence a person reads on the overview, from an operational event's data."""
    data = orjson.loads(event.body)["data"]
    if event.type == "delivery.exhausted":
        return (f"Delivery {data['delivery_id']} of {data['event_type']} to {data['endpoint_id']} failed "
                f"{data['attempts']} attempts ({data['error'] or data['status_code']}).")  # fmt: skip
    if event.type == "webhook.disabled":
        return f"Webhook {data['url']} was disabled: {data['reason']}."
    if event.type == "import.completed":
        return f"Import {data['id']}: {data['processed']} of {data['total']} stored, {data['failed']} failed."
    if event.type == "signal.dead_lettered":
        return f"Signal {data['signal_id']} could not be stored: {data['error']}"
    return f"Flow {data['flow_id']} refused requests over {data['rate_limit_per_second']}/s from {data['minute']}."
