"""The signal queue and mapping rules (management API): what arrived unmapped, and the rules that name it."""

import re
import time

from flask import Blueprint, current_app, g, request
from rq.exceptions import NoSuchJobError
from rq.job import Job

from hookyard.core.clock import utcnow
from hookyard.core.errors import NotFound
from hookyard.core.http import authenticate_management, get_owned_or_404, list_args, load, load_body
from hookyard.core.jobs import at_least_once
from hookyard.core.openapi import documented
from hookyard.core.pagination import paginate
from hookyard.core.queues import DEFAULT_QUEUE
from hookyard.mapping.jobs import apply_mapping_rule as apply_mapping_rule_job
from hookyard.mapping.queue import queue_groups, try_draft
from hookyard.mapping.schemas import (
    apply_result_schema,
    mapping_rule_create_schema,
    mapping_rule_list_schema,
    mapping_rule_schema,
    queue_args_schema,
    rule_test_result_schema,
    rule_test_schema,
    signal_queue_schema,
)
from models import MappingRule
from schemas import list_args_schema

bp = Blueprint("mapping", __name__, url_prefix="/v1")
bp.before_request(authenticate_management)

TAGS = ("signal queue and mapping",)
JOB_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")
APPLY_WAIT = 2.0  # seconds an apply request waits for its job before answering with the job to follow


def _rule(rule_id: int) -> MappingRule:
    return get_owned_or_404(MappingRule, rule_id, "mapping rule")


@bp.get("/signal-queue")
@documented(query=queue_args_schema, responses={200: signal_queue_schema}, tags=TAGS)
def signal_queue():
    """Group unmapped signals by source and event, largest group first, each with a sample and a draft rule."""
    limit = load(queue_args_schema, request.args.to_dict())["limit"]
    groups = queue_groups(g.organization.id, limit)
    return signal_queue_schema.dump({"groups": groups})


@bp.post("/mapping-rules")
@documented(body=mapping_rule_create_schema, responses={201: mapping_rule_schema}, tags=TAGS)
def create_mapping_rule():
    """Create a rule: signals it matches from now on are mapped as they are processed."""
    data = load_body(mapping_rule_create_schema)
    rule = MappingRule.create(organization=g.organization, **data)
    return mapping_rule_schema.dump(rule), 201


@bp.get("/mapping-rules")
@documented(query=list_args_schema, responses={200: mapping_rule_list_schema}, tags=TAGS)
def list_mapping_rules():
    """List the organization's mapping rules, newest first."""
    args = list_args()
    query = MappingRule.select().where(MappingRule.organization == g.organization)
    rules, next_cursor = paginate(query, MappingRule.id, limit=args["limit"], cursor=args["cursor"])
    return {"mapping_rules": mapping_rule_schema.dump(rules, many=True), "next_cursor": next_cursor}


@bp.get("/mapping-rules/<int:rule_id>")
@documented(responses={200: mapping_rule_schema}, errors=(404,), tags=TAGS)
def get_mapping_rule(rule_id):
    """Show one mapping rule."""
    return mapping_rule_schema.dump(_rule(rule_id))


@bp.patch("/mapping-rules/<int:rule_id>")
@documented(body=mapping_rule_create_schema, responses={200: mapping_rule_schema}, errors=(404,), tags=TAGS)
def update_mapping_rule(rule_id):
    """Change a rule; signals already mapped keep their mapping."""
    rule = _rule(rule_id)
    for name, value in load_body(mapping_rule_create_schema, partial=True).items():
        setattr(rule, name, value)
    rule.updated_at = utcnow()
    rule.save()
    return mapping_rule_schema.dump(rule)


@bp.delete("/mapping-rules/<int:rule_id>")
@documented(responses={204: None}, errors=(404,), tags=TAGS)
def delete_mapping_rule(rule_id):
    """Delete a rule; signals it mapped stay mapped."""
    _rule(rule_id).delete_instance()
    return "", 204


@bp.post("/mapping-rules/test")
@documented(body=rule_test_schema, responses={200: rule_test_result_schema}, tags=TAGS)
def test_mapping_rule():
    """Try a draft rule on the latest queued signals: which would it map, and what lead fields would it find."""
    draft = load_body(rule_test_schema)
    tried = try_draft(g.organization.id, draft, draft["limit"])
    return {"tried": tried["tried"], "matched": tried["matched"], "signals": tried["signals"]}


@bp.post("/mapping-rules/<int:rule_id>/apply")
@documented(responses={200: apply_result_schema, 202: apply_result_schema}, errors=(404,), tags=TAGS)
def apply_mapping_rule(rule_id):
    """Map the queued signals this rule matches now (in the worker); 200 with `mapped` if done within 2 s,
    else 202 with the job to follow."""
    rule = _rule(rule_id)
    job = current_app.queues[DEFAULT_QUEUE].enqueue(
        apply_mapping_rule_job,
        rule.id,
        result_ttl=86400,
        meta={"organization_id": g.organization.id, "rule_id": rule.id},
        retry=at_least_once(),
    )
    deadline = time.monotonic() + APPLY_WAIT
    while time.monotonic() < deadline and job.get_status(refresh=True) not in ("finished", "failed"):
        time.sleep(0.05)
    answer = _apply_progress(job)
    return answer, 200 if answer["status"] == "finished" else 202


@bp.get("/mapping-rules/<int:rule_id>/apply/<job_id>")
@documented(responses={200: apply_result_schema}, errors=(404,), tags=TAGS)
def get_apply_progress(rule_id, job_id):
    """Follow an apply job: its status and how many signals it has mapped so far."""
    job = None
    if JOB_ID_SHAPE.fullmatch(job_id):  # anything else is no job of ours: never sent to Redis
        try:
            job = Job.fetch(job_id, connection=current_app.redis)
        except NoSuchJobError:
            job = None
    if job is None or job.meta.get("organization_id") != g.organization.id or job.meta.get("rule_id") != rule_id:
        raise NotFound(f"No apply job {job_id} for mapping rule {rule_id} (its record is kept for a day).")
    return _apply_progress(job)


def _apply_progress(job: Job) -> dict:
    job.refresh()
    status = job.get_status()
    return {
        "id": job.id,
        "status": str(getattr(status, "value", status)),
        "mapped": job.meta.get("mapped", 0),
        "scanned": job.meta.get("scanned", 0),
    }
