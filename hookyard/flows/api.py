"""Flows (management API): create and manage inbound URLs, read their event log and health."""

from flask import Blueprint, current_app, g, request

from hookyard.core.http import (
    authenticate_management,
    current_config,
    current_secret_box,
    get_owned_or_404,
    list_args,
    load,
    load_body,
)
from hookyard.core.openapi import documented
from hookyard.core.pagination import paginate_by_time
from hookyard.flows.manage import change_flow, create_flow_for, delete_flow_and_log, describe, event_log_query
from hookyard.flows.metrics import flow_metrics, parse_window
from hookyard.flows.schemas import (
    flow_create_schema,
    flow_event_args_schema,
    flow_event_list_schema,
    flow_event_schema,
    flow_list_schema,
    flow_metrics_schema,
    flow_schema,
    metrics_args_schema,
)
from models import Flow, FlowEvent
from schemas import list_args_schema

bp = Blueprint("flows", __name__, url_prefix="/v1")
bp.before_request(authenticate_management)

TAGS = ("flows",)


def _answer(flow: Flow, secret: str | None = None) -> dict:
    return flow_schema.dump(describe(flow, secret))


@bp.post("/flows")
@documented(body=flow_create_schema, responses={201: flow_schema}, tags=TAGS)
def create_flow():
    """Create a flow and its inbound URL; a generated `secret` is shown only in this answer."""
    flow, generated = create_flow_for(g.organization, load_body(flow_create_schema), current_secret_box())
    return _answer(flow, generated), 201


@bp.get("/flows")
@documented(query=list_args_schema, responses={200: flow_list_schema}, tags=TAGS)
def list_flows():
    """List the organization's flows, newest first."""
    args = list_args()
    query = Flow.select().where(Flow.organization == g.organization)
    flows, next_cursor = paginate_by_time(query, Flow.created_at, Flow.id, limit=args["limit"], cursor=args["cursor"])
    return {"flows": [_answer(flow) for flow in flows], "next_cursor": next_cursor}


@bp.get("/flows/<flow_id>")
@documented(responses={200: flow_schema}, errors=(404,), tags=TAGS)
def get_flow(flow_id):
    """Show one flow (its secrets are never shown again; `has_*` say which are set)."""
    return _answer(get_owned_or_404(Flow, flow_id, "flow"))


@bp.patch("/flows/<flow_id>")
@documented(body=flow_create_schema, responses={200: flow_schema}, errors=(404,), tags=TAGS)
def update_flow(flow_id):
    """Change a flow: name, rate limit, active, provider secrets (null removes), `secret: true` rotates."""
    flow = get_owned_or_404(Flow, flow_id, "flow")
    return _answer(flow, change_flow(flow, load_body(flow_create_schema, partial=True), current_secret_box()))


@bp.delete("/flows/<flow_id>")
@documented(responses={204: None}, errors=(404,), tags=TAGS)
def delete_flow(flow_id):
    """Delete a flow and its event log; its URL answers 404 from then on."""
    delete_flow_and_log(get_owned_or_404(Flow, flow_id, "flow"))
    return "", 204


@bp.get("/flows/<flow_id>/events")
@documented(query=flow_event_args_schema, responses={200: flow_event_list_schema}, errors=(404,), tags=TAGS)
def list_flow_events(flow_id):
    """The flow's event log, newest first: filter by event, source, duplicate and time (since/until)."""
    flow = get_owned_or_404(Flow, flow_id, "flow")
    args = list_args(flow_event_args_schema)
    query = event_log_query(flow, args)
    events, next_cursor = paginate_by_time(
        query, FlowEvent.received_at, FlowEvent.id, limit=args["limit"], cursor=args["cursor"]
    )
    return {"events": flow_event_schema.dump(events, many=True), "next_cursor": next_cursor}


@bp.get("/flows/<flow_id>/metrics")
@documented(query=metrics_args_schema, responses={200: flow_metrics_schema}, errors=(404,), tags=TAGS)
def get_flow_metrics(flow_id):
    """The flow's health over a window (15m, 1h, 24h, 7d): volume, rates, latency, a time series."""
    flow = get_owned_or_404(Flow, flow_id, "flow")
    window = load(metrics_args_schema, request.args.to_dict())["window"]
    seconds = parse_window(window)
    prefix = current_config().redis_prefix
    return flow_metrics_schema.dump(flow_metrics(current_app.redis, prefix, flow, window, seconds))
