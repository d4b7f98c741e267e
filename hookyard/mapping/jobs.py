"""Mapping jobs (worker side): apply a rule to the signals already queued, a chunk per transaction."""

from hookyard.core import jobs
from hookyard.core.db import db
from hookyard.mapping.apply import Candidate, apply_rule
from hookyard.outbound.jobs import dispatch_published
from hookyard.outbound.publish import Publisher
from models import MappingRule, Signal

APPLY_CHUNK = 500


def apply_mapping_rule(rule_id: int) -> dict:
    """Map the queued signals one rule matches now, a chunk per transaction; progress in the job's meta."""
    context = jobs.current()
    job = jobs.current_job()
    rule = MappingRule.get_or_none(MappingRule.id == rule_id)
    if rule is None:
        return {"mapped": 0, "scanned": 0}
    publisher = Publisher(context.max_attempts)
    last_id, mapped, scanned = 0, 0, 0
    while rows := _next_queued(rule, last_id):
        with db.atomic():
            candidates = [Candidate(row.id, row.source, row.event, row.payload or {}, row.lead_id) for row in rows]
            count, events = apply_rule(rule, candidates)
            publisher.publish_many(events)
        last_id, mapped, scanned = rows[-1].id, mapped + count, scanned + len(rows)
        job.meta.update(mapped=mapped, scanned=scanned)
        job.save_meta()
    dispatch_published(context, publisher)
    return {"mapped": mapped, "scanned": scanned}


def _next_queued(rule: MappingRule, after_id: int) -> list[Signal]:
    """Return the next chunk of queued (unmapped) signals the rule's source and event select, by id."""
    queued = (Signal.organization == rule.organization_id) & (Signal.status == "processed") & (Signal.id > after_id)
    if rule.source is not None:
        queued &= Signal.source == rule.source
    if rule.event is not None:
        queued &= Signal.event == rule.event
    return list(
        Signal.select(Signal.id, Signal.source, Signal.event, Signal.payload, Signal.lead)
        .where(queued)
        .order_by(Signal.id)
        .limit(APPLY_CHUNK)
    )
