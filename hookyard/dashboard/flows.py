"""Flows: the list with volume and errors at a glance, create, a flow's page (URL, setup, live event log,
playground), an event's payload, and analytics charts over 15 m / 1 h / 24 h / 7 d."""

import json

from flask import Response, current_app, g, redirect, request, url_for

from hookyard.core.http import current_config, current_secret_box, get_owned_or_404
from hookyard.core.pagination import paginate_by_time
from hookyard.dashboard import charts
from hookyard.dashboard.blueprint import bp, page
from hookyard.dashboard.listing import PAGE_SIZE, next_page_url, read_filters
from hookyard.dashboard.reveal import redirect_showing, take
from hookyard.flows.ingress import run_playground
from hookyard.flows.manage import change_flow, create_flow_for, describe, event_log_query
from hookyard.flows.metrics import flow_metrics, parse_window
from hookyard.flows.schemas import flow_create_schema, flow_event_args_schema
from models import Flow, FlowEvent

WINDOWS = ("15m", "1h", "24h", "7d")


def _health(flow: Flow, window: str = "1h") -> dict:
    return flow_metrics(current_app.redis, current_config().redis_prefix, flow, window, parse_window(window))


@bp.get("/flows")
def flows_page(status: int = 200, **extra):
    """Every flow with its status, last hour's volume and error rate."""
    flows, cursor = paginate_by_time(
        Flow.select().where(Flow.organization == g.organization), Flow.created_at, Flow.id,
        limit=PAGE_SIZE, cursor=request.args.get("cursor") or None,
    )  # fmt: skip
    listed = [(flow, _health(flow)) for flow in flows]
    return page("flows/list.html", status, flows=listed, next_url=next_page_url(cursor), **extra)


def _form_data() -> tuple[dict, list[str]]:
    form = request.form
    data = {
        "name": form.get("name", "").strip(),
        "rate_limit_per_second": form.get("rate_limit_per_second") or "100",
        "secret": form.get("secret") == "on",
    }
    for name in ("github_secret", "stripe_secret"):
        if form.get(name, "").strip():
            data[name] = form[name].strip()
    try:
        data["rate_limit_per_second"] = int(data["rate_limit_per_second"])
    except ValueError:
        return {}, ["The rate limit is a whole number of events per second."]
    errors = flow_create_schema.validate(data)
    return data, [f"{name}: {' '.join(map(str, problems))}" for name, problems in errors.items()]


@bp.post("/flows")
def create_flow():
    data, errors = _form_data()
    if errors:
        return flows_page(400, errors=errors)
    flow, secret = create_flow_for(g.organization, flow_create_schema.load(data), current_secret_box())
    shown = {"secret": secret, "notice": "Flow created: point a sender at its URL (steps below)."}
    return redirect_showing("dashboard.flow_page", shown, flow_id=flow.id)


def _flow_page(flow: Flow, status: int = 200, **extra):
    filters, errors = read_filters(flow_event_args_schema)
    events, cursor = paginate_by_time(
        event_log_query(flow, filters), FlowEvent.received_at, FlowEvent.id,
        limit=PAGE_SIZE, cursor=request.args.get("cursor") or None,
    )  # fmt: skip
    shown = {name: request.args[name] for name in flow_event_args_schema.fields if request.args.get(name)}
    # The same filters, live; on a later page, no live refresh (it would bring back the first).
    live = None if request.args.get("cursor") else url_for("dashboard.flow_events_fragment", flow_id=flow.id, **shown)
    extra.setdefault("errors", errors)
    status = 400 if errors and status == 200 else status
    context = {"flow": flow, "info": describe(flow), "events": events, "filters": filters, "live": live,
               "next_url": next_page_url(cursor)}  # fmt: skip
    return page("flows/flow.html", status, **context, **extra)


@bp.get("/flows/<flow_id>")
def flow_page(flow_id):
    return _flow_page(get_owned_or_404(Flow, flow_id, "flow"), **take())


@bp.post("/flows/<flow_id>/active")
def pause_flow(flow_id):
    flow = get_owned_or_404(Flow, flow_id, "flow")
    change_flow(flow, {"active": request.form.get("active") == "true"}, current_secret_box())
    return redirect(url_for("dashboard.flow_page", flow_id=flow.id))


@bp.get("/flows/<flow_id>/events")
def flow_events_fragment(flow_id):
    """The event log alone (newest 50, filtered), for the live refresh and the filter form."""
    flow = get_owned_or_404(Flow, flow_id, "flow")
    filters, errors = read_filters(flow_event_args_schema)
    query = event_log_query(flow, filters).order_by(FlowEvent.received_at.desc(), FlowEvent.id.desc())
    return page("flows/_events.html", 400 if errors else 200, flow=flow, events=list(query.limit(50)), errors=errors)


@bp.get("/flows/<flow_id>/events/<event_id>")
def flow_event_page(flow_id, event_id):
    flow = get_owned_or_404(Flow, flow_id, "flow")
    event = FlowEvent.get_or_none((FlowEvent.id == event_id) & (FlowEvent.flow == flow.id))
    if event is None:
        return page("error.html", 404, title="Not found", message=f"No event {event_id} in this flow.")
    return page("flows/event.html", flow=flow, event=event)


@bp.post("/flows/<flow_id>/playground")
def flow_playground(flow_id):
    """Send a test payload through the flow and show its answer."""
    flow = get_owned_or_404(Flow, flow_id, "flow")
    text = request.form.get("payload", "")
    try:
        payload = json.loads(text)
        headers = json.loads(request.form.get("headers") or "{}")
        if not isinstance(headers, dict):
            raise ValueError("headers must be a JSON object")
    except ValueError as error:
        return _flow_page(flow, 400, errors=[f"The payload and headers must be JSON: {error}."], payload=text)
    result = run_playground(flow, payload, {str(k): str(v) for k, v in headers.items()})
    return redirect_showing("dashboard.flow_page", {"result": result, "payload": text}, flow_id=flow.id)


@bp.get("/flows/<flow_id>/analytics")
def flow_analytics(flow_id):
    flow = get_owned_or_404(Flow, flow_id, "flow")
    window = request.args.get("window", "1h")
    if window not in WINDOWS:
        window = "1h"
    return page("flows/analytics.html", flow=flow, window=window, windows=WINDOWS, health=_health(flow, window))


@bp.get("/flows/<flow_id>/charts/<kind>.svg")
def flow_chart(flow_id, kind):
    flow = get_owned_or_404(Flow, flow_id, "flow")
    window = request.args.get("window", "1h")
    health = _health(flow, window if window in WINDOWS else "1h")
    if kind == "volume":
        svg = charts.volume_chart(health["series"], f"Events and errors, last {health['window']}")
    elif kind == "latency":
        svg = charts.latency_chart(health["latency_ms"], f"Latency (ms), last {health['window']}")
    else:
        return page("error.html", 404, title="Not found", message="No such chart.")
    return Response(svg, mimetype="image/svg+xml")
