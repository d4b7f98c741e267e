"""Reading signals and leads back, filtered as the API and the dashboard both offer."""

from peewee import fn

from models import Identity, Lead, Signal

SIGNAL_FILTERS = {
    "status": Signal.status,
    "source": Signal.source,
    "event": Signal.event,
    "email": Signal.email,
    "anonymous_id": Signal.anonymous_id,
    "lead_id": Signal.lead,
    "cold_storage": Signal.cold_storage,
}


def signal_query(organization_id: int, filters: dict):
    """The organization's signals matching the filters given (status, source, event, email, ...)."""
    query = Signal.select().where(Signal.organization == organization_id)
    for name, column in SIGNAL_FILTERS.items():
        if filters.get(name) is not None:
            query = query.where(column == (filters[name].lower() if name == "email" else filters[name]))
    return query


def lead_query(organization_id: int, email: str | None = None):
    """The organization's leads, or the one with an email."""
    query = Lead.select().where(Lead.organization == organization_id)
    if email:
        query = query.where(Lead.email == email.strip().lower())
    return query


def with_activity(leads: list[Lead]) -> list[Lead]:
    """Give each lead what is derived from its signals: count, first and last seen, and its linked ids."""
    ids = [lead.id for lead in leads]
    happened = fn.COALESCE(Signal.timestamp, Signal.received_at)  # the sender's time when it gave one
    stats = {
        row.lead_id: row
        for row in Signal.select(
            Signal.lead,
            fn.COUNT(Signal.id).alias("count"),
            fn.MIN(happened).alias("first"),
            fn.MAX(happened).alias("last"),
        )
        .where(Signal.lead.in_(ids))
        .group_by(Signal.lead)
    }
    identities = {}
    for identity in (
        Identity.select(Identity.lead, Identity.kind, Identity.value)
        .where(Identity.lead.in_(ids))
        .order_by(Identity.id)
    ):
        identities.setdefault((identity.lead_id, identity.kind), []).append(identity.value)
    for lead in leads:
        row = stats.get(lead.id)
        lead.signal_count = row.count if row else 0
        lead.first_seen = _as_datetime(row.first) if row else lead.created_at
        lead.last_seen = _as_datetime(row.last) if row else lead.created_at
        lead.anonymous_ids = identities.get((lead.id, "anonymous_id"), [])
        lead.user_ids = identities.get((lead.id, "user_id"), [])
    return leads


def _as_datetime(value):
    """Aggregates come back from SQLite as text; read them as the column's type."""
    return Signal.received_at.python_value(value)
