"""Operations endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document."""

from flask import Blueprint, Response, current_app

from hookyard.core import metrics
from hookyard.core.db import db
from hookyard.core.http import current_secret_box
from hookyard.core.openapi import build_spec, documented
from schemas import health_schema

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@documented(auth="none", responses={200: health_schema})
def healthz():
    """Answer 200 while the process is up."""
    return {"status": "ok"}


@bp.get("/readyz")
@documented(auth="none", responses={200: health_schema, 503: health_schema})
def readyz():
    """Answer 200 when Redis and the database answer and secrets can be sealed, else 503 naming what is not."""
    redis = current_app.redis
    checks = {
        "redis": _check(redis.ping if redis else None),
        "database": _check(_ping_database),
        "encryption_key": _check(current_secret_box),
    }
    down = sorted(name for name, state in checks.items() if state != "ok")
    if down:
        body = {
            "status": "unavailable",
            "checks": checks,
            "error": "service_unavailable",
            "message": f"Not ready: {', '.join(down)} unavailable.",
        }
        return body, 503, {"Retry-After": "5"}
    return {"status": "ok", "checks": checks}


def _ping_database():
    db.execute_sql("SELECT 1")


def _check(probe) -> str:
    if probe is None:
        return "not configured"
    try:
        probe()
    except Exception as error:  # any failure means "not ready"; the reason is shown to the operator
        return f"down: {type(error).__name__}: {error}"
    return "ok"


@bp.get("/metrics")
def prometheus_metrics():
    """Expose Prometheus metrics: requests, queue depths, job and delivery outcomes."""
    return Response(metrics.render(current_app.metrics_collector), mimetype="text/plain; version=0.0.4")


@bp.get("/openapi.json")
def openapi_document():
    """Serve the OpenAPI 3 document generated from the marshmallow schemas."""
    if "openapi" not in current_app.extensions:
        current_app.extensions["openapi"] = build_spec(current_app)
    return current_app.extensions["openapi"]
