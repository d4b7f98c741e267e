"""The signal queue (unmapped signals grouped by source and event) and draft rules tried on it: for the
API and the dashboard alike."""

import datetime

from peewee import SQL, fn

from hookyard.mapping.rules import mapped_fields, rule_matches, suggest_rule
from models import MappingRule, Signal


def queued(organization_id: int, query=None):
    """The organization's signals no rule has mapped yet."""
    query = query if query is not None else Signal.select()
    return query.where((Signal.organization == organization_id) & (Signal.status == "processed"))


def _same_event(event):
    return Signal.event.is_null() if event is None else Signal.event == event


def queue_groups(organization_id: int, limit: int, source: str | None = None) -> list[dict]:
    """Unmapped signals by source and event, largest group first, each with its latest sample payload and the
    rule suggested from it."""
    count = fn.COUNT(SQL("*"))
    query = queued(
        organization_id,
        Signal.select(
            Signal.source,
            Signal.event,
            count.alias("count"),
            fn.MIN(Signal.received_at).alias("first_seen"),
            fn.MAX(Signal.received_at).alias("last_seen"),
        ),
    )
    if source:
        query = query.where(Signal.source == source)
    groups = list(
        query.group_by(Signal.source, Signal.event).order_by(count.desc(), Signal.source).limit(limit).dicts()
    )
    for group in groups:
        sample = (
            queued(organization_id, Signal.select(Signal.payload))
            .where((Signal.source == group["source"]) & _same_event(group["event"]))
            .order_by(Signal.received_at.desc())
            .limit(1)
            .scalar()
        )
        group["sample"] = sample
        group["suggested_rule"] = suggest_rule(group["source"], group["event"], sample or {})
    return groups


def daily_volume(organization_id: int, source: str, event, days: int = 7) -> list[tuple[datetime.date, int]]:
    """A group's unmapped signals per day over the last `days` days, oldest first (days without any: 0)."""
    today = datetime.datetime.now(datetime.UTC).date()
    since = datetime.datetime.combine(today - datetime.timedelta(days=days - 1), datetime.time())
    day = fn.DATE(Signal.received_at)  # DATE() reads a day on both SQLite and Postgres
    rows = (
        queued(organization_id, Signal.select(day, fn.COUNT(SQL("*"))))
        .where((Signal.source == source) & _same_event(event) & (Signal.received_at >= since))
        .group_by(day)
        .tuples()
    )
    counts = {_as_date(value): count for value, count in rows}
    return [(since.date() + datetime.timedelta(days=n), counts.get(since.date() + datetime.timedelta(days=n), 0))
            for n in range(days)]  # fmt: skip


def _as_date(value) -> datetime.date:
    """A DATE() as a date: Postgres answers a date; on SQLite peewee reads its text as a datetime."""
    if isinstance(value, datetime.datetime):
        return value.date()
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(str(value)[:10])


def try_draft(organization_id: int, draft: dict, limit: int) -> dict:
    """Try a draft rule on the latest queued signals: which would it map, and what lead fields would it find."""
    rule = MappingRule(**{name: draft.get(name) for name in ("source", "event", "conditions", "field_map")})
    rule.conditions = rule.conditions or []
    rule.field_map = rule.field_map or {}
    latest = (
        queued(organization_id, Signal.select(Signal.id, Signal.source, Signal.event, Signal.payload))
        .order_by(Signal.id.desc())
        .limit(limit)
    )
    tried, matched, missed = 0, [], []
    for signal in latest:
        tried += 1
        payload = signal.payload or {}
        if rule_matches(rule, signal.source, signal.event, payload):
            fields = mapped_fields(rule.field_map, payload)
            matched.append({"id": signal.id, "source": signal.source, "event": signal.event, "fields": fields})
        else:
            missed.append(signal)
    return {"tried": tried, "matched": len(matched), "signals": matched, "missed": missed}
