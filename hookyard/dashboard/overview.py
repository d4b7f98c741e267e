"""Overview: today's and this month's signals against the plan, flow volume, delivery health, what is failing."""

import datetime

import orjson
from flask import current_app, g
from peewee import fn

from hookyard.core.clock import utcnow
from hookyard.core.http import current_config
from hookyard.dashboard.blueprint import bp, page
from hookyard.flows.keys import flow_buffer_keys
from hookyard.signals.keys import SignalKeys
from hookyard.signals.limits import usage_report
from models import Delivery, Endpoint, Flow, FlowEvent, Signal

DAY = datetime.timedelta(days=1)
DEAD_LETTERS_READ = 1000  # the newest entries of each dead-letter list looked through for this organization


def _dead_letters(organization_id: int) -> dict:
    """This organization's items set aside (could not be stored even alone), among the newest of each list."""
    prefix = current_config().redis_prefix
    found = {}
    for name, keys, field in (("signals", SignalKeys(prefix), "org"), ("flow events", flow_buffer_keys(prefix),
                                                                        "organization_id")):  # fmt: skip
        count = 0
        for entry in current_app.redis.lrange(keys.dead_letter, -DEAD_LETTERS_READ, -1):
            try:
                item = orjson.loads(orjson.loads(entry)["item"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
            count += isinstance(item, dict) and item.get(field) == organization_id
        if count:
            found[name] = count
    return found


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
    )
