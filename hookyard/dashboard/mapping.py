"""Signal Mapping: the signal queue (groups, 7-day volume, samples by dot path), the rule builder with its
live preview, applying a rule with a progress bar, the rules in priority order, and recommended rules."""

import re

from flask import Response, current_app, g, redirect, request, url_for
from marshmallow import ValidationError
from peewee import fn
from rq.exceptions import NoSuchJobError
from rq.job import Job

from hookyard.core.db import db
from hookyard.core.http import get_owned_or_404
from hookyard.core.jobs import at_least_once
from hookyard.core.queues import DEFAULT_QUEUE
from hookyard.dashboard import charts
from hookyard.dashboard.blueprint import bp, page
from hookyard.dashboard.reveal import redirect_showing, take
from hookyard.mapping.jobs import apply_mapping_rule
from hookyard.mapping.queue import daily_volume, queue_groups, try_draft
from hookyard.mapping.rules import LEAD_FIELDS, OPERATORS, leaf_paths, suggest_rule, why_not
from hookyard.mapping.schemas import mapping_rule_create_schema
from models import MappingRule, Signal

# The seed's allow list: events worth a rule in most organizations, offered when they are in the queue.
RECOMMENDED = ("Form Submitted", "Demo Requested", "Trial Started", "Pricing Page Viewed", "Feature Activated",
               "Signed Up", "Invite Sent")  # fmt: skip
NUMERIC_OPS = ("gt", "gte", "lt", "lte")
CONDITION_FIELD = re.compile(r"cond_(\d{1,3})_field")  # a condition row's path: cond_<n>_field
PREVIEW_SIGNALS = 200


@bp.get("/mapping/queue")
def queue_page():
    """Unmapped signals by group, largest first, with their volume and the latest sample."""
    source = request.args.get("source") or None
    groups = queue_groups(g.organization.id, 50, source)
    present = {group["event"] for group in groups}
    recommended = [event for event in RECOMMENDED if event in present]
    return page("mapping/queue.html", groups=groups, source=source or "", recommended=recommended, leaves=leaf_paths)


@bp.get("/mapping/queue/volume.svg")
def queue_volume_chart():
    days = daily_volume(g.organization.id, request.args.get("source", ""), request.args.get("event") or None)
    return Response(charts.sparkline([count for _day, count in days]), mimetype="image/svg+xml")


def _draft_from_form() -> dict:
    """The rule the builder's form describes (strings as typed; the schema checks them on save)."""
    form = request.form
    conditions = []
    rows = sorted(int(found.group(1)) for name in form if (found := CONDITION_FIELD.fullmatch(name)))
    for n in rows:  # each row's fields are named by its number: one left out (a disabled value) shifts none
        path, op = form.get(f"cond_{n}_field", "").strip(), form.get(f"cond_{n}_op", "eq")
        if path:
            conditions.append({"field": path, "op": op, "value": _typed(op, form.get(f"cond_{n}_value", ""))})
    field_map = {
        field: form.get(f"map_{field}", "").strip() for field in LEAD_FIELDS if form.get(f"map_{field}", "").strip()
    }
    draft = {name: form.get(name, "").strip() or None for name in ("name", "source", "event", "signal_name")}
    draft.update(conditions=conditions, field_map=field_map, active=form.get("active") == "on")
    for name in ("score", "priority"):
        draft[name] = form.get(name, "0").strip() or "0"
    return draft


def _typed(op: str, value: str):
    """A condition's value as its operator wants it: a list for `in`, a number for comparisons."""
    if op == "in":
        return [part.strip() for part in value.split(",") if part.strip()]
    if op in NUMERIC_OPS:
        try:
            return float(value) if "." in value else int(value)
        except ValueError:
            return value
    return None if op in ("exists", "not_exists") else value


def _builder(draft: dict, status: int = 200, rule: MappingRule | None = None, **extra):
    preview = _preview(draft, request.form.get("explain"))
    sample = _sample(draft.get("source"), draft.get("event"))
    context = {"draft": draft, "rule": rule, "operators": OPERATORS, "lead_fields": LEAD_FIELDS, "preview": preview,
               "sample": leaf_paths(sample) if sample else []}  # fmt: skip
    return page("mapping/builder.html", status, **context, **extra)


def _sample(source, event):
    query = Signal.select(Signal.payload).where((Signal.organization == g.organization) & Signal.payload.is_null(False))
    if source:
        query = query.where(Signal.source == source)
    if event:
        query = query.where(Signal.event == event)
    return query.order_by(Signal.id.desc()).limit(1).scalar()


def _preview(draft: dict, explain_id: str | None) -> dict:
    """How many of the latest queued signals the draft maps, what it extracts, and why one it misses is missed."""
    tried = try_draft(g.organization.id, draft, PREVIEW_SIGNALS)
    missed = tried.pop("missed")
    same_kind = [s for s in missed if s.event == draft.get("event") and s.source == (draft.get("source") or s.source)]
    fallback = (same_kind or missed or [None])[0]  # a near miss says more than another event does
    chosen = next((s for s in missed if str(s.id) == (explain_id or "")), fallback)
    rule = MappingRule(source=draft.get("source"), event=draft.get("event"), conditions=draft["conditions"])
    tried["missed"] = [s.id for s in missed[:50]]
    tried["explained"] = (
        (chosen.id, why_not(rule, chosen.source, chosen.event, chosen.payload or {})) if chosen else None
    )
    return tried


@bp.get("/mapping/rules/new")
def new_rule():
    """The builder, pre-filled from a queue group's suggested rule (or a recommended event)."""
    source, event = request.args.get("source") or None, request.args.get("event") or None
    draft = suggest_rule(source or "", event, _sample(source, event) or {}) if (source or event) else {
        "name": "", "source": None, "event": None, "conditions": [], "field_map": {}, "signal_name": "",
        "score": 10, "priority": 0, "active": True}  # fmt: skip
    draft["source"] = source
    return _builder(draft)


@bp.post("/mapping/rules/preview")
def preview_fragment():
    """The preview alone, for the builder's live refresh as the draft changes."""
    return page("mapping/_preview.html", preview=_preview(_draft_from_form(), request.form.get("explain")))


@bp.post("/mapping/rules/new")
@bp.post("/mapping/rules/<int:rule_id>/edit")
def save_rule(rule_id=None):
    """The builder's buttons: add a clicked leaf as a condition or a lead field, preview, or save."""
    rule = get_owned_or_404(MappingRule, rule_id, "mapping rule") if rule_id else None
    draft = _draft_from_form()
    action = request.form.get("action", "preview")
    if action.startswith("leaf:"):  # a sample leaf, used as a condition or as a lead field
        n = action.split(":", 1)[1]
        path, target = request.form.get(f"leaf_{n}", ""), request.form.get(f"leaf_{n}_as", "condition")
        if target == "condition":
            draft["conditions"].append({"field": path, "op": "exists", "value": None})
        elif target in LEAD_FIELDS:
            draft["field_map"][target] = path
        return _builder(draft, rule=rule)
    if action != "save":
        return _builder(draft, rule=rule)
    try:
        data = mapping_rule_create_schema.load({k: v for k, v in draft.items() if v is not None})
    except ValidationError as error:
        return _builder(draft, 400, rule=rule, field_errors=error.messages)
    if rule is None:
        rule = MappingRule.create(organization=g.organization, **data)
    else:
        for name, value in data.items():
            setattr(rule, name, value)
        rule.save()
    return redirect_showing("dashboard.rules_page", {"notice": f"Rule “{rule.name}” saved.", "saved": rule.id})


@bp.get("/mapping/rules/<int:rule_id>")
def edit_rule(rule_id):
    rule = get_owned_or_404(MappingRule, rule_id, "mapping rule")
    draft = {name: getattr(rule, name) for name in ("name", "source", "event", "conditions", "field_map",
                                                    "signal_name", "score", "priority", "active")}  # fmt: skip
    return _builder(draft, rule=rule)


@bp.get("/mapping/rules")
def rules_page():
    """The rules in the order they are tried (priority, then age), with what each has mapped."""
    rules = list(
        MappingRule.select()
        .where(MappingRule.organization == g.organization)
        .order_by(MappingRule.priority.desc(), MappingRule.id)
    )
    stats = {
        row[0]: (row[1], row[2])
        for row in Signal.select(Signal.mapping_rule_id, fn.COUNT(Signal.id), fn.MAX(Signal.received_at))
        .where((Signal.organization == g.organization) & (Signal.status == "mapped"))
        .group_by(Signal.mapping_rule_id)
        .tuples()
    }
    return page("mapping/rules.html", rules=rules, stats=stats, **take())


@bp.post("/mapping/rules/<int:rule_id>/move")
def move_rule(rule_id):
    """Move a rule one place up or down the order, then number every rule's priority again: 10, 20, 30 ...

    Trading priorities with the neighbour alone could tie with, or jump past, a third rule of the same
    priority; numbering the whole order again keeps it exactly what the person sees.
    """
    rule = get_owned_or_404(MappingRule, rule_id, "mapping rule")
    ordered = list(
        MappingRule.select()
        .where(MappingRule.organization == g.organization)
        .order_by(MappingRule.priority.desc(), MappingRule.id)
    )
    at = [each.id for each in ordered].index(rule.id)
    other_at = at - 1 if request.form.get("direction") == "up" else at + 1
    if 0 <= other_at < len(ordered):
        ordered[at], ordered[other_at] = ordered[other_at], ordered[at]
        with db.atomic():
            for place, each in enumerate(ordered):
                priority = (len(ordered) - place) * 10  # the first wins: the highest priority
                if each.priority != priority:
                    each.priority = priority
                    each.save(only=[MappingRule.priority])
    return redirect(url_for("dashboard.rules_page"))


@bp.post("/mapping/rules/<int:rule_id>/active")
def toggle_rule(rule_id):
    rule = get_owned_or_404(MappingRule, rule_id, "mapping rule")
    rule.active = request.form.get("active") == "true"
    rule.save(only=[MappingRule.active])
    return redirect(url_for("dashboard.rules_page"))


@bp.post("/mapping/rules/<int:rule_id>/delete")
def delete_rule(rule_id):
    get_owned_or_404(MappingRule, rule_id, "mapping rule").delete_instance()
    return redirect_showing("dashboard.rules_page", {"notice": "Rule deleted; the signals it mapped stay mapped."})


@bp.post("/mapping/rules/<int:rule_id>/apply")
def apply_rule(rule_id):
    """Map the queued signals the rule matches, in the worker; follow it with a progress bar."""
    rule = get_owned_or_404(MappingRule, rule_id, "mapping rule")
    job = current_app.queues[DEFAULT_QUEUE].enqueue(
        apply_mapping_rule, rule.id, result_ttl=86400, retry=at_least_once(),
        meta={"organization_id": g.organization.id, "rule_id": rule.id},
    )  # fmt: skip
    return redirect(url_for("dashboard.apply_page", rule_id=rule.id, job_id=job.id))


def _job(rule: MappingRule, job_id: str) -> dict:
    try:
        job = Job.fetch(job_id, connection=current_app.redis)
    except (NoSuchJobError, ValueError):
        job = None
    if job is None or job.meta.get("organization_id") != g.organization.id or job.meta.get("rule_id") != rule.id:
        return {"status": "unknown", "mapped": 0, "scanned": 0}
    status = job.get_status(refresh=True)
    job.refresh()
    meta = job.meta
    return {"status": str(getattr(status, "value", status)), "mapped": meta.get("mapped", 0),
            "scanned": meta.get("scanned", 0)}  # fmt: skip


@bp.get("/mapping/rules/<int:rule_id>/apply/<job_id>")
def apply_page(rule_id, job_id):
    rule = get_owned_or_404(MappingRule, rule_id, "mapping rule")
    return page("mapping/apply.html", rule=rule, job_id=job_id, progress=_job(rule, job_id))


@bp.get("/mapping/rules/<int:rule_id>/apply/<job_id>/live")
def apply_fragment(rule_id, job_id):
    rule = get_owned_or_404(MappingRule, rule_id, "mapping rule")
    return page("mapping/_progress.html", rule=rule, progress=_job(rule, job_id))
