"""The ceiling for this stack: Flask + gunicorn parsing and validating a signal, answering 202, queuing nothing."""

from flask import Flask, request

from errors import ApiError, InvalidJson, ValidationFailed
from jsonbody import parse_json, read_raw_body, require_json_content_type
from schemas import signal_in_schema
from signal_fields import detect_source, read_fields


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

    @app.errorhandler(ApiError)
    def handle(error):
        return error.body(), error.status

    return app
