"""The ceiling for this stack: Flask + gunicorn doing a request's own work, answering, queuing nothing.

`/ingest` parses and validates a signal; `/flow` verifies a GitHub signature and reads the event.
"""

from flask import Flask, request

from errors import ApiError, InvalidJson, ValidationFailed
from flow_signatures import verify_github
from flow_sources import read_message
from jsonbody import parse_json, read_raw_body, require_json_content_type
from schemas import signal_in_schema
from signal_fields import detect_source, read_fields

GITHUB_SECRET = "It's a Secret to Everybody"


def create_app() -> Flask:
    """Create the baseline app: one endpoint doing the request-side work of ingestion minus Redis."""
    app = Flask(__name__)

    @app.post("/ingest")
    def ingest():
        require_json_content_type(request)
        payload = parse_json(read_raw_body(request, 256 * 1024))
        if not isinstance(payload, dict):
            raise InvalidJson("A signal must be a JSON object.")
        errors = signal_in_schema.validate(payload)
        if errors:
            raise ValidationFailed(errors)
        source = detect_source(payload, None, request.headers.get("X-Source"))
        fields = read_fields(payload, source)
        return {"id": 1, "message": "Signal received and queued for processing", "source": source,
                "cold_storage": fields.email is None}, 202

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
