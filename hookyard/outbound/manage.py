"""Outbound webhooks made, changed and driven (test, retry, replay): for the API and the dashboard alike.

Functions that need the request's world take it as arguments (the secret box, the queues), so both kinds
of view call them the same way.
"""

import datetime

from hookyard.core.clock import utcnow
from hookyard.core.credentials import new_public_id
from hookyard.core.jobs import at_least_once
from hookyard.core.queues import DEFAULT_QUEUE, DELIVERY_QUEUE
from hookyard.outbound.catalogue import unknown_patterns
from hookyard.outbound.jobs import publish_api_event, redeliver
from hookyard.outbound.signing import generate_secret, secret_problem
from hookyard.outbound.url_safety import UnsafeUrl, check_url, parse_url
from models import Delivery, DeliveryAttempt, Endpoint

ROTATION_OVERLAP = datetime.timedelta(hours=24)
REPLAY_JOB_SIZE = 1000


def subscription_problems(organization_id: int, data: dict, allow_private: bool, subscribed_already=()) -> dict:
    """Name what is wrong with a subscription: unknown or archived event types, an unsafe URL, a bad secret."""
    errors = {}
    unknown = unknown_patterns(organization_id, data.get("events", []), subscribed_already)
    if unknown:
        errors["events"] = [f"Unknown or archived event type {name!r}; see GET /v1/event-types." for name in unknown]
    if "url" in data:
        try:
            check_url(data["url"], allow_private)
        except UnsafeUrl as error:
            if "does not resolve" not in str(error):
                errors["url"] = [str(error)]
            else:
                parse_url(data["url"])  # well-formed; its host may resolve by delivery time
    if data.get("secret") is not None and secret_problem(data["secret"]):
        errors["secret"] = [secret_problem(data["secret"])]
    return errors


def create_endpoint(organization, data: dict, box) -> tuple[Endpoint, str]:
    """Subscribe a URL; return the endpoint and its secret (the one given, or a generated whsec_...)."""
    secret = data.get("secret") or generate_secret()
    endpoint = Endpoint.create(
        id=new_public_id("hook_"),
        organization=organization,
        url=data["url"],
        events=data["events"],
        description=data.get("description"),
        active=data.get("active", True),
        secret_encrypted=box.seal(secret),
    )
    return endpoint, secret


def change_endpoint(endpoint: Endpoint, data: dict) -> Endpoint:
    """Change URL, events, description or active (re-activating clears the disabling, and its failure clock)."""
    for field, value in data.items():
        setattr(endpoint, field, value)
    if data.get("active"):
        endpoint.disabled_reason = None
    if data.get("active") or "url" in data:  # turned back on, or pointed elsewhere: its failures start afresh
        endpoint.failing_since = None
    endpoint.updated_at = utcnow()
    endpoint.save()
    return endpoint


def rotate_secret(endpoint: Endpoint, box) -> str:
    """Issue a new secret; for 24 hours deliveries are signed with both the new and the old one."""
    secret = generate_secret()
    now = utcnow()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret_encrypted = box.seal(secret)
    endpoint.updated_at = now
    endpoint.save()
    return secret


def send_test(organization_id: int, endpoint: Endpoint, queues) -> tuple[str, str]:
    """Queue a webhook.test event to this endpoint only; return its event and delivery ids."""
    event_id, delivery_id = new_public_id("evt_"), new_public_id("del_")
    data = {"message": "This is a test event from Hookyard.", "webhook_id": endpoint.id}
    queues[DELIVERY_QUEUE].enqueue(
        publish_api_event,
        organization_id,
        "webhook.test",
        data,
        event_id,
        utcnow().isoformat(timespec="milliseconds"),
        None,
        endpoint.id,
        delivery_id,
        retry=at_least_once(),
    )
    return event_id, delivery_id


def retry_now(delivery: Delivery, queues) -> None:
    """One more attempt now, whatever the delivery's state."""
    queues[DELIVERY_QUEUE].enqueue(redeliver, [delivery.id], retry=at_least_once())


def replay(endpoint: Endpoint, status: str, since, until, queues) -> int:
    """Redeliver every delivery of a status created in a window; return how many."""
    query = Delivery.select(Delivery.id).where(
        (Delivery.endpoint == endpoint) & (Delivery.status == status) & (Delivery.created_at >= since)
    )
    if until is not None:
        query = query.where(Delivery.created_at <= until)
    ids = list(query.scalars())
    for start in range(0, len(ids), REPLAY_JOB_SIZE):
        queues[DEFAULT_QUEUE].enqueue(redeliver, ids[start : start + REPLAY_JOB_SIZE], retry=at_least_once())
    return len(ids)


def delivery_query(endpoint: Endpoint, status: str | None = None):
    """An endpoint's deliveries, optionally of one status."""
    query = Delivery.select().where(Delivery.endpoint == endpoint)
    return query.where(Delivery.status == status) if status else query


def attempts_of(delivery: Delivery) -> list[DeliveryAttempt]:
    return list(delivery.attempt_log.order_by(DeliveryAttempt.number, DeliveryAttempt.id))
