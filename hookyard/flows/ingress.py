"""Flow ingress: `POST /webhooks/<webhook_id>` (GitHub, Stripe, any sender) and the playground that tests it."""

import time
from urllib.parse import urlsplit

import orjson
from flask import Blueprint, current_app, g, request
from werkzeug.datastructures import Headers

from hookyard.core import metrics
from hookyard.core.errors import ApiError, BadRequest
from hookyard.core.http import authenticate_management, current_config, current_secret_box, load_body
from hookyard.core.jsonbody import read_raw_body
from hookyard.core.openapi import documented
from hookyard.flows import intake
from hookyard.flows.schemas import (
    flow_accepted_schema,
    flow_event_in_schema,
    playground_result_schema,
    playground_schema,
)
from models import Flow

bp = Blueprint("flow_ingress", __name__)
FLOW_EVENTS = metrics.IntakeCounters("flow_events", "Flow events (requests to /webhooks/<webhook_id>)")


@bp.after_request
def count_flow_event(response):
    """Count a request to a flow's URL as accepted (duplicates too) or refused; the playground's are not."""
    if request.endpoint == "flow_ingress.receive_flow_event":
        FLOW_EVENTS.count_answer(response)
    return response


def _receive(flow, raw_reader, mimetype: str, headers, *, trusted: bool = False) -> dict:
    return intake.receive(
        current_app.redis,
        current_app.extensions["flow_scripts"],
        current_app.queues,
        current_config().redis_prefix,
        flow,
        raw_reader,
        mimetype,
        headers,
        trusted=trusted,
    )


def _flow(webhook_id: str):
    return intake.find_flow(webhook_id, current_secret_box())


@bp.post("/webhooks/<webhook_id>")
@documented(
    body=flow_event_in_schema,
    body_content_types=("application/json", "application/x-www-form-urlencoded"),
    responses={200: flow_accepted_schema},
    errors=(400, 401, 404, 413, 415, 429),
    tags=("flows",),
    auth="none",
    headers=(
        "X-API-Key",
        "X-Api-Secret",
        "X-Event-Signature",
        "Stripe-Signature",
        "X-Hub-Signature-256",
        "X-GitHub-Event",
        "X-GitHub-Delivery",
        "Idempotency-Key",
    ),
)
def receive_flow_event(webhook_id):
    """Accept an event for a flow: authenticated by X-API-Key (a flow key), or by a GitHub or Stripe signature."""
    flow = _flow(webhook_id)
    limit = current_config().max_body_bytes
    return _receive(flow, lambda: read_raw_body(request, limit), request.mimetype or "", request.headers)


@bp.post("/api/playground/test")
@documented(body=playground_schema, responses={200: playground_result_schema}, tags=("flows",))
def playground_test():
    """Send a payload through one of your own flows and see its answer; no other URL is ever fetched."""
    authenticate_management()
    data = load_body(playground_schema)
    return run_playground(_playground_flow(data["webhookUrl"]), data["payload"], data["headers"])


def run_playground(flow, payload, headers: dict) -> dict:
    """Send a payload through a flow as its sender would (trusted: no key needed); return its answer."""
    raw = orjson.dumps(payload)
    started = time.perf_counter()
    try:
        status, answer = 200, _receive(flow, lambda: raw, "application/json", Headers(headers), trusted=True)
    except ApiError as error:
        status, answer = error.status, error.body()
    return {"status": status, "response": answer, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _playground_flow(url: str):
    """Return the flow a playground URL names, if it is one of this organization's; else a 400."""
    refusal = BadRequest(
        "webhookUrl must be the webhook_url of one of your flows (GET /v1/flows); the playground "
        "never sends anywhere else.",
        code="not_a_flow_url",
    )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise refusal from None
    public = current_config().public_url
    hosts = {request.host, urlsplit(public).netloc} if public else {request.host}
    segments = parts.path.split("/")
    if (
        parts.scheme not in ("http", "https")
        or parts.netloc not in hosts
        or parts.query
        or parts.fragment
        or len(segments) != 3
        or segments[1] != "webhooks"
        or not segments[2]
    ):
        raise refusal
    owned = Flow.get_or_none((Flow.webhook_id == segments[2]) & (Flow.organization == g.organization))
    if owned is None:
        raise refusal
    return _flow(owned.webhook_id)
