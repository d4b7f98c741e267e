"""Overview: today's and this month's signals against the plan, flow volume, delivery health, what is failing."""

import datetime

from flask import current_app, g
from peewee import fn

from hookyard.core.clock import utcnow
from hookyard.dashboard.blueprint import bp, page
from hookyard.dashboard.dead_letters import KIND_NAMES
from hookyard.outbound import operational
from hookyard.signals.limits import usage_report
from models import DeadLetter, Delivery, Endpoint, Flow, FlowEvent, Signal

DAY = datetime.timedelta(days=1)


def _dead_letters(organization_id: int) -> dict:
    """How many of this organization's signals and flow events wait as dead letters, by kind."""
    counts = (
        DeadLetter.select(DeadLetter.kind, fn.COUNT(DeadLetter.id))
        .where(DeadLetter.organization == organization_id)
        .group_by(DeadLetter.kind)
        .tuples()
    )
    return {KIND_NAMES[kind].lower(): count for kind, count in counts}


def _delivery_health(organization_id: int, since: datetime.datetime) -> dict:
    counts = dict(
        Delivery.select(Delivery.status, fn.COUNT(Delivery.id))
        .where((Delivery.organization == organization_id) & (Delivery.created_at >= since))
        .group_by(Delivery.status)
        .tuples()
    )
    settled = counts.get("success", 0) + counts.get("failed", 0)
    return {
        "total": sum(counts.values()),
        "success_rate": counts.get("success", 0) / settled if settled else None,
        "pending": counts.get("pending", 0) + counts.get("retrying", 0),
    }


@bp.get("/")
def overview():
    """The first page after sign-in: is everything flowing, and is anything failing now?"""
    organization_id = g.organization.id
    now = utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    flows = Flow.select(Flow.id).where(Flow.organization == organization_id)
    failing = {
        "disabled": list(
            Endpoint.select().where(
                (Endpoint.organization == organization_id)
                & (Endpoint.active == False)  # noqa: E712 (peewee builds SQL from ==)
                & Endpoint.disabled_reason.is_null(False)
            )
        ),
        "dead_letters": _dead_letters(organization_id),
        "failed_deliveries": Delivery.select()
        .where((Delivery.organization == organization_id) & (Delivery.status == "failed"))
        .count(),
    }
    return page(
        "overview.html",
        usage=usage_report(current_app.extensions["signal_intake"], organization_id),
        signals_today=Signal.select()
        .where((Signal.organization == organization_id) & (Signal.received_at >= midnight))
        .count(),
        flow_events_day=FlowEvent.select()
        .where(FlowEvent.flow.in_(flows) & (FlowEvent.received_at >= now - DAY))
        .count(),
        deliveries=_delivery_health(organization_id, now - DAY),
        failing=failing,
        operational=[(event, operational.summary(event)) for event in operational.recent(organization_id)],
    )
