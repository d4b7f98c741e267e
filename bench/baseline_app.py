"""The ceiling for this stack: Flask + gunicorn doing a request's own work, answering, queuing nothing.

`/ingest` parses and validates a signal; `/ingest-lpush` does that and one plain LPUSH of the body
(the least any durable queue costs: one Redis round trip); `/flow` verifies a GitHub signature and
reads the event. `create_app_without_queue` is Hookyard itself with the signal endpoint's Redis call
answered by nothing: what its own request work (authentication, hooks, metrics, id) costs.
"""

import os

import redis
from flask import Flask, request

from hookyard.core.errors import ApiError, InvalidJson, ValidationFailed
from hookyard.core.jsonbody import parse_json, read_raw_body, require_json_content_type
from hookyard.flows.signatures import verify_github
from hookyard.flows.sources import read_message
from hookyard.signals.fields import detect_source, read_fields
from hookyard.signals.schemas import signal_in_schema

GITHUB_SECRET = "It's a Secret to Everybody"
LPUSH_KEY = "bench:lpush"


def create_app() -> Flask:
    """Create the baseline app: one endpoint doing the request-side work of ingestion minus Redis."""
    app = Flask(__name__)

    queue = redis.Redis.from_url(os.environ["REDIS_URL"]) if os.environ.get("REDIS_URL") else None

    def validate():
        require_json_content_type(request)
        raw = read_raw_body(request, 256 * 1024)
        payload = parse_json(raw)
        if not isinstance(payload, dict):
            raise InvalidJson("A signal must be a JSON object.")
        errors = signal_in_schema.validate(payload)
        if errors:
            raise ValidationFailed(errors)
        source = detect_source(payload, None, request.headers.get("X-Source"))
        return raw, source, read_fields(payload, source)

    def answer(source, fields):
        return {
            "id": 1,
            "message": "Signal received and queued for processing",
            "source": source,
            "cold_storage": fields.email is None,
        }, 202

    @app.post("/ingest")
    def ingest():
        _raw, source, fields = validate()
        return answer(source, fields)

    @app.post("/ingest-lpush")
    def ingest_lpush():
        raw, source, fields = validate()
        queue.lpush(LPUSH_KEY, raw)
        return answer(source, fields)

    @app.post("/flow")
    def flow():
        raw = read_raw_body(request, 1024 * 1024)
        verify_github(GITHUB_SECRET, raw, request.headers.get("X-Hub-Signature-256", ""))
        message = read_message(request.headers, parse_json(raw))
        return {"id": "fev_1", "status": "queued", "event": message.event}

    @app.errorhandler(ApiError)
    def handle(error):
        return error.body(), error.status

    return app


def create_app_without_queue() -> Flask:
    """Hookyard's app whose signal intake accepts without Redis (queues and counts nothing, answers warm)."""
    from app import create_app as create_hookyard

    hookyard = create_hookyard()
    hookyard.extensions["signal_intake"].accept = lambda organization_id, items, **options: [False] * len(items)
    return hookyard
