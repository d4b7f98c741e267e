"""Retention policies: how long each organization keeps signal payloads, flow event payloads, outbound delivery
history and activities: its own setting where it made one, else the environment's default (RETENTION_*).

What each setting removes, and what is never removed (leads, scores, mapped names, counts), is in
docs/operations.md#retention. The purge that applies them is `hookyard.ops.purge`; this module deletes nothing.
"""

import datetime
from collections.abc import Iterator

from peewee import JOIN

from hookyard.core.clock import utcnow
from hookyard.core.config import Config
from models import Organization, RetentionPolicy

SETTINGS = ("signal_payload_days", "flow_event_payload_days", "delivery_history_days", "activity_days")
FOREVER = 0  # what a day field stores for "keep for ever"; a null one follows the environment's default

Days = dict[str, int | None]  # setting -> days to keep (None: for ever)


def default_days(config: Config) -> Days:
    """Return the environment's defaults, by setting."""
    return {
        "signal_payload_days": config.retention_signal_payload_days,
        "flow_event_payload_days": config.retention_flow_event_payload_days,
        "delivery_history_days": config.retention_delivery_history_days,
        "activity_days": config.retention_activity_days,
    }


def effective_days(stored: dict[str, int | None], defaults: Days) -> Days:
    """Return how long each setting keeps data: the organization's stored value where it has one, else the default.

    Args:
        stored: the policy row's day fields (null: not set; FOREVER: kept for ever); a missing one is not set.
        defaults: the environment's days, by setting.
    """
    days = {}
    for name in SETTINGS:
        value = stored.get(name)
        days[name] = defaults[name] if value is None else (None if value == FOREVER else value)
    return days


def cutoff(now: datetime.datetime, days: int | None) -> datetime.datetime | None:
    """Return the moment before which data kept `days` has expired, or None when it is kept for ever."""
    return None if days is None else now - datetime.timedelta(days=days)


def _stored(row: RetentionPolicy | None) -> dict[str, int | None]:
    return {name: getattr(row, name) for name in SETTINGS} if row is not None else {}


def describe(organization_id: int, config: Config) -> dict:
    """Return the organization's retention as the API shows it: the days in force, the environment's defaults,
    where each setting comes from, and when the organization last changed them."""
    row = RetentionPolicy.get_or_none(RetentionPolicy.organization == organization_id)
    stored, defaults = _stored(row), default_days(config)
    return {
        **effective_days(stored, defaults),
        "defaults": defaults,
        "sources": {name: "default" if stored.get(name) is None else "organization" for name in SETTINGS},
        "updated_at": row.updated_at if row is not None else None,
    }


def ensure_policy_row(organization_id: int) -> None:
    """Make the organization's policy row if it has none (all defaults); concurrent callers make one."""
    RetentionPolicy.insert(organization=organization_id).on_conflict_ignore().execute()


def set_policy(organization_id: int, values: dict[str, int | None]) -> None:
    """Replace the organization's policy: a setting in `values` becomes its own (days, or None for ever), a setting
    left out follows the environment's default again. The purge's progress is kept."""
    ensure_policy_row(organization_id)
    changes = {
        name: (FOREVER if values[name] is None else values[name]) if name in values else None for name in SETTINGS
    }
    RetentionPolicy.update(**changes, updated_at=utcnow()).where(
        RetentionPolicy.organization == organization_id
    ).execute()


def policies(config: Config, organization_id: int | None = None) -> Iterator[tuple[int, Days]]:
    """Yield each organization's id (or the one asked for) with the days each setting keeps its data."""
    defaults = default_days(config)
    query = (
        Organization.select(Organization.id, *(getattr(RetentionPolicy, name) for name in SETTINGS))
        .join(RetentionPolicy, on=(RetentionPolicy.organization == Organization.id), join_type=JOIN.LEFT_OUTER)
        .order_by(Organization.id)
    )
    if organization_id is not None:
        query = query.where(Organization.id == organization_id)
    # Read whole first: a cursor left open while the purge writes keeps the connection's read transaction, and
    # with it SQLite's write-ahead log, from ending (space.bound_write_ahead_log could not empty it).
    for organization, *values in list(query.tuples()):
        yield organization, effective_days(dict(zip(SETTINGS, values, strict=True)), defaults)
