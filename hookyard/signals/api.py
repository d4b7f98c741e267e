"""Reading signal staging back: signals, leads, usage, plan limits and bulk imports (management API)."""

from flask import Blueprint, current_app, g

from hookyard.core.errors import NotFound
from hookyard.core.http import authenticate_management, get_owned_or_404, list_args, load_body
from hookyard.core.openapi import documented
from hookyard.core.pagination import paginate
from hookyard.signals.limits import set_limits, usage_report
from hookyard.signals.reading import lead_query, signal_query, with_activity
from hookyard.signals.schemas import (
    duplicate_signal_schema,
    import_list_schema,
    import_schema,
    lead_filter_schema,
    lead_list_schema,
    lead_schema,
    rate_limit_schema,
    signal_filter_schema,
    signal_list_schema,
    signal_schema,
    usage_schema,
)
from models import Lead, RateLimit, Signal, SignalImport
from schemas import list_args_schema

bp = Blueprint("signals", __name__, url_prefix="/v1")
bp.before_request(authenticate_management)


def _intake():
    return current_app.extensions["signal_intake"]


def _dump_signal(signal: Signal) -> dict:
    if signal.status == "duplicate":
        return duplicate_signal_schema.dump(signal)
    signal.happened_at = signal.timestamp or signal.received_at
    return signal_schema.dump(signal)


@bp.get("/signals")
@documented(query=signal_filter_schema, responses={200: signal_list_schema}, tags=("signal staging",))
def list_signals():
    """List signals, newest first, filtered by status, source, event, email, anonymous_id or lead_id."""
    args = list_args(signal_filter_schema)
    query = signal_query(g.organization.id, args)
    signals, next_cursor = paginate(query, Signal.id, limit=args["limit"], cursor=args["cursor"])
    return {"signals": [_dump_signal(signal) for signal in signals], "next_cursor": next_cursor}


@bp.get("/signals/<int:signal_id>")
@documented(responses={200: signal_schema}, errors=(404,), tags=("signal staging",))
def get_signal(signal_id):
    """Show one signal; a duplicate answers `status: duplicate` and the original's id."""
    hint = " (a signal appears here once the worker has stored it)"
    return _dump_signal(get_owned_or_404(Signal, signal_id, "signal", hint))


def _dump_leads(leads: list[Lead]) -> list[dict]:
    return [lead_schema.dump(lead) for lead in with_activity(leads)]


@bp.get("/leads")
@documented(query=lead_filter_schema, responses={200: lead_list_schema}, tags=("signal staging",))
def list_leads():
    """List leads, newest first, optionally the one with an email."""
    args = list_args(lead_filter_schema)
    query = lead_query(g.organization.id, args.get("email"))
    leads, next_cursor = paginate(query, Lead.id, limit=args["limit"], cursor=args["cursor"])
    return {"leads": _dump_leads(leads), "next_cursor": next_cursor}


@bp.get("/leads/<int:lead_id>")
@documented(responses={200: lead_schema}, errors=(404,), tags=("signal staging",))
def get_lead(lead_id):
    """Show one lead with its traits, score, signal count and linked anonymous ids."""
    return _dump_leads([get_owned_or_404(Lead, lead_id, "lead")])[0]


@bp.get("/leads/<int:lead_id>/signals")
@documented(query=list_args_schema, responses={200: signal_list_schema}, errors=(404,), tags=("signal staging",))
def list_lead_signals(lead_id):
    """List a lead's signals, newest first."""
    lead = get_owned_or_404(Lead, lead_id, "lead")
    args = list_args()
    query = Signal.select().where((Signal.organization == g.organization) & (Signal.lead == lead))
    signals, next_cursor = paginate(query, Signal.id, limit=args["limit"], cursor=args["cursor"])
    return {"signals": [_dump_signal(signal) for signal in signals], "next_cursor": next_cursor}


@bp.get("/usage")
@documented(responses={200: usage_schema}, tags=("signal staging",))
def get_usage():
    """Show this month's raw signal count against the plan limit."""
    return usage_report(_intake(), g.organization.id)


@bp.get("/rate-limits")
@documented(responses={200: rate_limit_schema}, tags=("signal staging",))
def get_rate_limits():
    """Show the organization's plan limits (null means unlimited)."""
    return rate_limit_schema.dump(RateLimit.for_organization(g.organization.id))


@bp.put("/rate-limits")
@documented(body=rate_limit_schema, responses={200: rate_limit_schema}, tags=("signal staging",))
def put_rate_limits():
    """Set the organization's plan limits; they apply to the next request."""
    return rate_limit_schema.dump(set_limits(_intake(), g.organization.id, load_body(rate_limit_schema)))


@bp.get("/imports")
@documented(query=list_args_schema, responses={200: import_list_schema}, tags=("signal staging",))
def list_imports():
    """List bulk imports, newest first, with their progress (an import is listed once the worker has begun it;
    `GET /v1/imports/<id>` answers for one still queued)."""
    args = list_args()
    query = SignalImport.select().where(SignalImport.organization == g.organization)
    imports, next_cursor = paginate(query, SignalImport.id, limit=args["limit"], cursor=args["cursor"])
    return import_list_schema.dump({"imports": imports, "next_cursor": next_cursor})


@bp.get("/imports/<import_id>")
@documented(responses={200: import_schema}, errors=(404,), tags=("signal staging",))
def get_import(import_id):
    """Show a bulk import's progress: status, total, processed, duplicates, failed, and rows set aside."""
    record = SignalImport.get_or_none((SignalImport.id == import_id) & (SignalImport.organization == g.organization))
    if record is not None:
        failures = current_app.redis.hgetall(_intake().keys.import_failures(import_id))
        errors = sorted(({"id": int(key), "error": error.decode()} for key, error in failures.items()), key=_by_id)
        return {**import_schema.dump(record), "errors": errors}
    meta = current_app.redis.hgetall(_intake().keys.import_meta(import_id))
    meta = {key.decode(): value.decode() for key, value in meta.items()}
    if not meta or int(meta["organization_id"]) != g.organization.id:
        raise NotFound(f"No import {import_id}.")
    return {
        "id": import_id,
        "status": "queued",
        "total": int(meta["total"]),
        "processed": 0,
        "duplicates": 0,
        "failed": int(meta["failed"]),
        "errors": [],
        "created_at": None,
        "finished_at": None,
    }


def _by_id(row: dict) -> int:
    return row["id"]
