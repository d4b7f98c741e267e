"""Outbound webhooks: subscriptions, publishing, delivery logs, retry and replay (event types: event_types_api)."""

from flask import Blueprint, current_app, g

from hookyard.core.clock import iso_z, utcnow
from hookyard.core.credentials import new_public_id
from hookyard.core.errors import BadRequest, ValidationFailed
from hookyard.core.http import (
    authenticate_management,
    current_config,
    current_secret_box,
    get_owned_or_404,
    list_args,
    load_body,
)
from hookyard.core.jobs import at_least_once
from hookyard.core.openapi import documented
from hookyard.core.pagination import paginate
from hookyard.core.queues import DELIVERY_QUEUE
from hookyard.outbound import manage
from hookyard.outbound.catalogue import check_publishable
from hookyard.outbound.jobs import publish_api_event
from hookyard.outbound.schemas import (
    delivery_detail_schema,
    delivery_filter_schema,
    delivery_list_schema,
    delivery_schema,
    event_accepted_schema,
    event_create_schema,
    replay_accepted_schema,
    replay_schema,
    test_sent_schema,
    webhook_create_schema,
    webhook_created_schema,
    webhook_list_schema,
    webhook_schema,
    webhook_secret_schema,
    webhook_update_schema,
)
from models import Delivery, Endpoint
from schemas import list_args_schema

bp = Blueprint("webhooks", __name__, url_prefix="/v1")
bp.before_request(authenticate_management)


def _endpoint(endpoint_id: str) -> Endpoint:
    return get_owned_or_404(Endpoint, endpoint_id, "webhook")


def _check_subscription(data: dict, subscribed_already=()) -> None:
    """Refuse event names the catalogue does not hold (or holds archived) and unsafe URLs, naming the field."""
    allow_private = current_config().webhook_allow_private_networks
    errors = manage.subscription_problems(g.organization.id, data, allow_private, subscribed_already)
    if errors:
        raise ValidationFailed(errors)


@bp.post("/webhooks")
@documented(body=webhook_create_schema, responses={201: webhook_created_schema}, tags=("outbound webhooks",))
def create_webhook():
    """Subscribe a URL to event types; without a secret, one is generated (whsec_...)."""
    data = load_body(webhook_create_schema)
    _check_subscription(data)
    endpoint, secret = manage.create_endpoint(g.organization, data, current_secret_box())
    return {**webhook_schema.dump(endpoint), "secret": secret}, 201


@bp.get("/webhooks")
@documented(query=list_args_schema, responses={200: webhook_list_schema}, tags=("outbound webhooks",))
def list_webhooks():
    """List the organization's webhooks, newest first."""
    args = list_args()
    query = Endpoint.select().where(Endpoint.organization == g.organization)
    endpoints, next_cursor = paginate(query, Endpoint.id, limit=args["limit"], cursor=args["cursor"])
    return {"webhooks": webhook_schema.dump(endpoints, many=True), "next_cursor": next_cursor}


@bp.get("/webhooks/<endpoint_id>")
@documented(responses={200: webhook_schema}, errors=(404,), tags=("outbound webhooks",))
def get_webhook(endpoint_id):
    """Show one webhook (its secret is at /secret)."""
    return webhook_schema.dump(_endpoint(endpoint_id))


@bp.patch("/webhooks/<endpoint_id>")
@documented(body=webhook_update_schema, responses={200: webhook_schema}, errors=(404,), tags=("outbound webhooks",))
def update_webhook(endpoint_id):
    """Change a webhook's URL, events, description or active flag (re-activating clears a 410)."""
    endpoint = _endpoint(endpoint_id)
    data = load_body(webhook_update_schema)
    _check_subscription(data, endpoint.events)
    return webhook_schema.dump(manage.change_endpoint(endpoint, data))


@bp.delete("/webhooks/<endpoint_id>")
@documented(responses={204: None}, errors=(404,), tags=("outbound webhooks",))
def delete_webhook(endpoint_id):
    """Delete a webhook and its delivery log."""
    _endpoint(endpoint_id).delete_instance(recursive=True)
    return "", 204


@bp.get("/webhooks/<endpoint_id>/secret")
@documented(responses={200: webhook_secret_schema}, errors=(404,), tags=("outbound webhooks",))
def get_webhook_secret(endpoint_id):
    """Show a webhook's signing secret."""
    endpoint = _endpoint(endpoint_id)
    return {
        "secret": current_secret_box().open(endpoint.secret_encrypted),
        "previous_secret_expires_at": iso_z(endpoint.previous_secret_expires_at),
    }


@bp.post("/webhooks/<endpoint_id>/rotate-secret")
@documented(responses={200: webhook_secret_schema}, errors=(404,), tags=("outbound webhooks",))
def rotate_webhook_secret(endpoint_id):
    """Issue a new secret; for 24 hours deliveries are signed with both the new and the old one."""
    endpoint = _endpoint(endpoint_id)
    secret = manage.rotate_secret(endpoint, current_secret_box())
    return {"secret": secret, "previous_secret_expires_at": iso_z(endpoint.previous_secret_expires_at)}


@bp.post("/events")
@documented(body=event_create_schema, responses={202: event_accepted_schema}, tags=("outbound webhooks",))
def create_event():
    """Publish an event of a known, unarchived type to every subscribed webhook; `data` must fit the type's
    schema, and an `id` seen before publishes nothing new."""
    data = load_body(event_create_schema)
    check_publishable(g.organization.id, data["type"], data["data"])
    event_id, created_at = new_public_id("evt_"), utcnow().isoformat(timespec="milliseconds")
    if data["id"] is not None:
        # The caller's id is claimed in Redis, where the answer must come from; the database's unique
        # index on it is the backstop.
        claim = f"{current_config().redis_prefix}:event-ids:{g.organization.id}:{data['id']}"
        if not current_app.redis.set(claim, f"{event_id}|{created_at}", nx=True, ex=30 * 24 * 3600):
            event_id, created_at = current_app.redis.get(claim).decode().split("|")
            return {"id": event_id, "type": data["type"], "created_at": created_at + "Z"}, 202
    current_app.queues[DELIVERY_QUEUE].enqueue(
        publish_api_event,
        g.organization.id,
        data["type"],
        data["data"],
        event_id,
        created_at,
        data["id"],
        retry=at_least_once(),
    )
    return {"id": event_id, "type": data["type"], "created_at": created_at + "Z"}, 202


@bp.post("/webhooks/<endpoint_id>/test")
@documented(responses={202: test_sent_schema}, errors=(404,), tags=("outbound webhooks",))
def test_webhook(endpoint_id):
    """Send a webhook.test event to this webhook only."""
    event_id, delivery_id = manage.send_test(g.organization.id, _endpoint(endpoint_id), current_app.queues)
    return {"event_id": event_id, "delivery_id": delivery_id}, 202


@bp.get("/webhooks/<endpoint_id>/deliveries")
@documented(
    query=delivery_filter_schema, responses={200: delivery_list_schema}, errors=(404,), tags=("outbound webhooks",)
)
def list_deliveries(endpoint_id):
    """List a webhook's deliveries, newest first, optionally by status."""
    endpoint = _endpoint(endpoint_id)
    args = list_args(delivery_filter_schema)
    query = manage.delivery_query(endpoint, args.get("status"))
    deliveries, next_cursor = paginate(query, Delivery.id, limit=args["limit"], cursor=args["cursor"])
    return {"deliveries": delivery_schema.dump(deliveries, many=True), "next_cursor": next_cursor}


@bp.get("/deliveries/<delivery_id>")
@documented(responses={200: delivery_detail_schema}, errors=(404,), tags=("outbound webhooks",))
def get_delivery(delivery_id):
    """Show a delivery with every attempt: time, duration, status code, response (2 KB), error."""
    delivery = get_owned_or_404(Delivery, delivery_id, "delivery")
    delivery.attempt_log = manage.attempts_of(delivery)
    return delivery_detail_schema.dump(delivery)


@bp.post("/deliveries/<delivery_id>/retry")
@documented(responses={202: delivery_schema}, errors=(404,), tags=("outbound webhooks",))
def retry_delivery(delivery_id):
    """Deliver again now: one more attempt, whatever the delivery's state."""
    delivery = get_owned_or_404(Delivery, delivery_id, "delivery")
    manage.retry_now(delivery, current_app.queues)
    return {**delivery_schema.dump(delivery), "status": "pending"}, 202


@bp.post("/webhooks/<endpoint_id>/replay")
@documented(body=replay_schema, responses={202: replay_accepted_schema}, errors=(404,), tags=("outbound webhooks",))
def replay_webhook(endpoint_id):
    """Redeliver every delivery of a status (default failed) created in a window, e.g. after an outage."""
    endpoint = _endpoint(endpoint_id)
    data = load_body(replay_schema)
    if data["until"] is not None and data["until"] < data["since"]:
        raise BadRequest("`until` is before `since`.", code="validation_failed")
    matching = manage.replay(endpoint, data["status"], data["since"], data["until"], current_app.queues)
    return {"status": "queued", "matching": matching}, 202
