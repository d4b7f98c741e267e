"""Publishing outbound events (worker side): store the event once, fan out one delivery per subscriber.

Every capability publishes through `publish_event` (or `publish_new_events`, for a batch of fresh
events), mostly by way of a job's `Publisher`; the dispatcher (dispatch.py) does the sending. An
event's body is serialized here, once: the exact bytes every attempt sends and signs.
"""

import datetime

import orjson
import peewee

from hookyard.core.clock import iso_z, utcnow
from hookyard.core.credentials import new_public_id
from hookyard.core.db import db, insert_rows
from hookyard.outbound.event_types import subscribed
from models import Delivery, Endpoint, Event


def event_body(event_id: str, event_type: str, created_at: datetime.datetime, data: dict) -> str:
    """Return the JSON every delivery of an event sends: `{"id", "type", "created_at", "data"}`."""
    stamp = iso_z(created_at)
    return orjson.dumps({"id": event_id, "type": event_type, "created_at": stamp, "data": data}).decode()


def publish_event(
    organization_id: int,
    event_type: str,
    data: dict,
    *,
    event_id: str | None = None,
    idempotency_key: str | None = None,
    created_at: datetime.datetime | None = None,
    endpoints: list[Endpoint] | None = None,
    delivery_ids: dict | None = None,
    max_attempts: int = 5,
) -> Event:
    """Store an event and a pending delivery to each subscriber (or to `endpoints`); safe to run twice.

    Returns the stored event: an earlier one when `event_id` or `idempotency_key` was seen before, in
    which case nothing is delivered again.
    """
    created_at = created_at or utcnow()
    event_id = event_id or new_public_id("evt_")
    targets = SubscriberCache()(organization_id, event_type) if endpoints is None else endpoints
    now = utcnow()
    try:
        with db.atomic():  # the event and its deliveries exist together or not at all
            event = Event.create(
                id=event_id,
                organization=organization_id,
                type=event_type,
                body=event_body(event_id, event_type, created_at, data),
                idempotency_key=idempotency_key,
                created_at=created_at,
            )
            insert_rows(
                Delivery, _pending_deliveries(event.id, organization_id, targets, max_attempts, now, delivery_ids)
            )
    except peewee.IntegrityError:
        return Event.get_or_none(Event.id == event_id) or Event.get(
            (Event.organization == organization_id) & (Event.idempotency_key == idempotency_key)
        )
    return event


def publish_new_events(events: list[tuple], max_attempts: int) -> None:
    """Store fresh events and their deliveries, two statements for all: the caller's transaction makes
    them exist together. Each item is (event id, organization, type, data, endpoints); the ids must be
    new (use `publish_event` for caller-given, possibly repeated ids)."""
    if not events:
        return
    start = utcnow()
    # A microsecond apart, so the dispatcher (oldest next_attempt_at first) sends them in this order.
    stamps = [start + datetime.timedelta(microseconds=index) for index in range(len(events))]
    insert_rows(
        Event,
        [
            {
                "id": event_id,
                "organization": organization_id,
                "type": event_type,
                "body": event_body(event_id, event_type, now, data),
                "idempotency_key": None,
                "created_at": now,
            }
            for now, (event_id, organization_id, event_type, data, _targets) in zip(stamps, events, strict=True)
        ],
    )
    insert_rows(
        Delivery,
        [
            row
            for now, (event_id, organization_id, _type, _data, targets) in zip(stamps, events, strict=True)
            for row in _pending_deliveries(event_id, organization_id, targets, max_attempts, now)
        ],
    )


def _pending_deliveries(
    event_id: str,
    organization_id: int,
    targets: list[Endpoint],
    max_attempts: int,
    now: datetime.datetime,
    delivery_ids: dict | None = None,
) -> list[dict]:
    """The delivery rows of one event, one per subscriber, due at once."""
    return [
        {
            "id": (delivery_ids or {}).get(endpoint.id) or new_public_id("del_"),
            "organization": organization_id,
            "endpoint": endpoint.id,
            "event": event_id,
            "status": "pending",
            "attempts": 0,
            "max_attempts": max_attempts,
            "next_attempt_at": now,
            "created_at": now,
        }
        for endpoint in targets
    ]


class SubscriberCache:
    """Each organization's active endpoints, read once, then matched against every event type asked for."""

    def __init__(self):
        self.endpoints: dict[int, list[Endpoint]] = {}

    def __call__(self, organization_id: int, event_type: str) -> list[Endpoint]:
        """Return the organization's active endpoints whose patterns cover an event type."""
        if organization_id not in self.endpoints:
            self.endpoints[organization_id] = list(
                Endpoint.select().where((Endpoint.organization == organization_id) & (Endpoint.active == True))  # noqa: E712
            )
        return [endpoint for endpoint in self.endpoints[organization_id] if subscribed(endpoint.events, event_type)]


class Publisher:
    """Publishes what one job produces to whoever subscribes, reading each organization's endpoints once."""

    def __init__(self, max_attempts: int):
        self.max_attempts = max_attempts
        self.subscribers = SubscriberCache()
        self.published = 0

    def publish_to_subscribers(self, organization_id: int, event_type: str, data: dict) -> None:
        """Publish an event if any active endpoint of the organization subscribes to its type."""
        targets = self.subscribers(organization_id, event_type)
        if targets:
            publish_event(organization_id, event_type, data, endpoints=targets, max_attempts=self.max_attempts)
            self.published += 1

    def publish_many(self, events: list[tuple]) -> None:
        """Publish (organization, type, data) events, e.g. what mapping rules produced."""
        for organization_id, event_type, data in events:
            self.publish_to_subscribers(organization_id, event_type, data)
