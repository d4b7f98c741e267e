"""Flows made, changed and deleted, and their event log read: for the API and the dashboard alike."""

import secrets

from hookyard.core.clock import utcnow
from hookyard.core.credentials import new_public_id
from hookyard.core.http import public_url
from hookyard.flows import intake
from hookyard.outbound.signing import generate_secret
from models import Flow, FlowEvent

WEBHOOK_ID_PREFIX = "wh_"


def describe(flow: Flow, secret: str | None = None) -> dict:
    """What the API answers of a flow (a generated `secret` only in the answer that made it)."""
    return {
        "id": flow.id,
        "name": flow.name,
        "webhook_id": flow.webhook_id,
        "webhook_url": public_url(f"/webhooks/{flow.webhook_id}"),
        "secret": secret,
        "has_secret": flow.secret_encrypted is not None,
        "has_github_secret": flow.github_secret_encrypted is not None,
        "has_stripe_secret": flow.stripe_secret_encrypted is not None,
        "rate_limit_per_second": flow.rate_limit_per_second,
        "active": flow.active,
        "created_at": flow.created_at,
        "updated_at": flow.updated_at,
    }


def _apply(flow: Flow, data: dict, box) -> str | None:
    """Set the given fields on a flow; return a newly generated secret, if one was asked for."""
    generated = None
    for name in ("name", "rate_limit_per_second", "active"):
        if name in data:
            setattr(flow, name, data[name])
    for name in ("github_secret", "stripe_secret"):
        if name in data:
            setattr(flow, f"{name}_encrypted", box.seal(data[name]) if data[name] is not None else None)
    if data.get("secret") is True:
        generated = generate_secret()
        flow.secret_encrypted = box.seal(generated)
    elif data.get("secret") is False:
        flow.secret_encrypted = None
    return generated


def create_flow_for(organization, data: dict, box) -> tuple[Flow, str | None]:
    """Create a flow and its inbound URL; return it and its generated secret (if asked for)."""
    flow = Flow(
        id=new_public_id("flow_"), organization=organization, webhook_id=WEBHOOK_ID_PREFIX + secrets.token_urlsafe(24)
    )
    data = {name: value for name, value in data.items() if not (name == "secret" and not value)}
    generated = _apply(flow, data, box)
    flow.save(force_insert=True)
    return flow, generated


def change_flow(flow: Flow, data: dict, box) -> str | None:
    """Change a flow; every web process sees it at once (the cache entry is dropped)."""
    generated = _apply(flow, data, box)
    flow.updated_at = utcnow()
    flow.save()
    intake.forget(flow.webhook_id)
    return generated


def delete_flow_and_log(flow: Flow) -> None:
    """Delete a flow and its event log; its URL answers 404 from then on."""
    flow.delete_instance()
    intake.forget(flow.webhook_id)


def event_log_query(flow: Flow, filters: dict):
    """The flow's event log filtered by event, source, duplicate and time (since/until)."""
    query = FlowEvent.select().where(FlowEvent.flow == flow.id)
    for name in ("event", "source", "duplicate"):
        if filters.get(name) is not None:
            query = query.where(getattr(FlowEvent, name) == filters[name])
    if filters.get("since") is not None:
        query = query.where(FlowEvent.received_at >= filters["since"])
    if filters.get("until") is not None:
        query = query.where(FlowEvent.received_at < filters["until"])
    return query
