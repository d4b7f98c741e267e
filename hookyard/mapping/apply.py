"""Mapping signals by rules (worker side): name the signal, score its lead, fill the lead's fields.

A signal is mapped once: the change from `processed` to `mapped` is a conditional UPDATE, and only
the run that makes it scores the lead, so storing, applying and re-running never score twice. Scores
are added in SQL (`score = score + n`), never read-modify-written. A mapped signal still in cold
storage scores its lead when an identify rehydrates it (`credit_rehydrated`).

Each function returns the outbound events to publish, as (organization, type, data) tuples, and runs
inside the caller's transaction, so the events are stored with the changes they describe.
"""

from dataclasses import dataclass

from hookyard.core.clock import utcnow
from hookyard.core.db import insert_rows
from hookyard.mapping.rules import first_match, mapped_fields, rule_matches
from models import Lead, MappingRule, Signal

LEAD_COLUMNS = ("name", "company", "title")


@dataclass
class Candidate:
    """A stored, unmapped signal as rules see it."""

    id: int
    source: str
    event: str | None
    payload: dict
    lead_id: int | None


def active_rules(organization_id: int) -> list[MappingRule]:
    """Return the organization's active rules in the order they are tried: priority high to low, then oldest."""
    return list(
        MappingRule.select()
        .where((MappingRule.organization == organization_id) & (MappingRule.active == True))  # noqa: E712
        .order_by(MappingRule.priority.desc(), MappingRule.id)
    )


def map_new_signals(organization_id: int, candidates: list[Candidate], rules=None) -> list[tuple]:
    """Map freshly stored signals by the first matching active rule; return the events to publish."""
    rules = active_rules(organization_id) if rules is None else rules
    if not rules:
        return []
    matches = [
        (candidate, rule)
        for candidate in candidates
        if (rule := first_match(rules, candidate.source, candidate.event, candidate.payload))
    ]
    return map_signals(organization_id, matches)


def apply_rule(rule: MappingRule, candidates: list[Candidate]) -> tuple[int, list[tuple]]:
    """Map the queued signals one rule matches now; return how many it mapped and the events."""
    matches = [
        (candidate, rule)
        for candidate in candidates
        if rule_matches(rule, candidate.source, candidate.event, candidate.payload)
    ]
    events = map_signals(rule.organization_id, matches)
    return sum(1 for event in events if event[1] == "signal.mapped"), events


def map_signals(organization_id: int, matches: list[tuple[Candidate, MappingRule]]) -> list[tuple]:
    """Mark each signal mapped by its rule, if no one else has; then score and fill its lead."""
    events, touched_leads = [], {}
    for candidate, rule in matches:
        won = (
            Signal.update(status="mapped", mapped_signal=rule.signal_name, mapping_rule_id=rule.id)
            .where((Signal.id == candidate.id) & (Signal.status == "processed"))
            .execute()
        )
        if not won:
            continue  # mapped already (an earlier run, another worker, another rule)
        fields = mapped_fields(rule.field_map, candidate.payload)
        lead_id = candidate.lead_id
        if lead_id is None and "email" in fields:
            lead_id, created = _lead_for_email(organization_id, fields["email"])
            Signal.update(lead=lead_id, cold_storage=False, email=fields["email"]).where(
                Signal.id == candidate.id
            ).execute()
            if created:
                events.append((organization_id, "lead.created", {"id": lead_id, "email": fields["email"]}))
        events.append(
            (
                organization_id,
                "signal.mapped",
                {
                    "id": candidate.id,
                    "source": candidate.source,
                    "event": candidate.event,
                    "mapped_signal": rule.signal_name,
                    "rule_id": rule.id,
                    "score": rule.score,
                    "lead_id": lead_id,
                },
            )
        )
        if lead_id is not None:
            _score_lead(lead_id, rule.score, {column: fields[column] for column in LEAD_COLUMNS if column in fields})
            touched_leads[lead_id] = organization_id
    return events + _lead_updated_events(touched_leads)


def credit_rehydrated(moved: list[tuple[int, int | None, str]]) -> list[tuple]:
    """Score leads for mapped signals that rehydration just took out of cold storage.

    `moved` holds (lead id, mapping rule id, status) for each signal rehydration moved.
    """
    rule_ids = {rule_id for _lead, rule_id, status in moved if status == "mapped" and rule_id is not None}
    if not rule_ids:
        return []
    rules = {rule.id: rule for rule in MappingRule.select().where(MappingRule.id.in_(rule_ids))}
    touched = {}
    for lead_id, rule_id, status in moved:
        rule = rules.get(rule_id)
        if status == "mapped" and rule is not None and lead_id is not None:
            _score_lead(lead_id, rule.score, {})
            touched[lead_id] = rule.organization_id
    return _lead_updated_events(touched)


def _lead_for_email(organization_id: int, email: str) -> tuple[int, bool]:
    """Return the lead for an email, creating it if needed (the unique index settles races)."""
    now = utcnow()
    existing = Lead.get_or_none((Lead.organization == organization_id) & (Lead.email == email))
    if existing is not None:
        return existing.id, False
    insert_rows(
        Lead,
        [
            {
                "organization": organization_id,
                "email": email,
                "traits": {},
                "score": 0,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    lead = Lead.get((Lead.organization == organization_id) & (Lead.email == email))
    return lead.id, lead.created_at == now


def _score_lead(lead_id: int, score: int, columns: dict) -> None:
    Lead.update(score=Lead.score + score, updated_at=utcnow(), **columns).where(Lead.id == lead_id).execute()


def _lead_updated_events(touched: dict) -> list[tuple]:
    if not touched:
        return []
    leads = Lead.select().where(Lead.id.in_(list(touched)))
    return [
        (
            touched[lead.id],
            "lead.updated",
            {
                "id": lead.id,
                "email": lead.email,
                "name": lead.name,
                "company": lead.company,
                "title": lead.title,
                "score": lead.score,
            },
        )
        for lead in leads
    ]
