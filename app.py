"""The Flask app factory: configuration, database, Redis and queues, blueprints, error handlers, CLI.

Views authenticate, validate, enqueue and answer; no slow work happens in a request. Only the WSGI
server, the `flask` CLI and the tests import this module.
"""

import time

from flask import Flask, g, redirect, request
from werkzeug.middleware.proxy_fix import ProxyFix

from hookyard.activities import api as activity_api
from hookyard.activities import ingress as activity_ingress
from hookyard.core import credentials, errors, metrics
from hookyard.core.config import LOCAL_KEY_FILE, Config
from hookyard.core.db import bind_database, db
from hookyard.core.errors import BadRequest, ServiceUnavailable
from hookyard.core.http import IdConverter
from hookyard.core.queues import INGEST_QUEUE, connect_redis, make_queues
from hookyard.dashboard import reference as api_reference
from hookyard.dashboard import views as dashboard
from hookyard.flows import api as flow_api
from hookyard.flows import ingress as flow_ingress
from hookyard.flows.intake import FlowScripts
from hookyard.keys import api as key_api
from hookyard.mapping import api as mapping_api
from hookyard.ops import cli, dead_letters_api, dead_letters_cli, retention_api, retention_cli
from hookyard.ops import views as ops_views
from hookyard.ops.metrics import service_collector
from hookyard.outbound import api as outbound_api
from hookyard.outbound import event_types_api
from hookyard.signals import api as signal_api
from hookyard.signals import ingress as signal_ingress
from hookyard.signals import segment as segment_api
from hookyard.signals.intake import SignalIntake
from hookyard.signals.keys import SignalKeys

BLUEPRINTS = (
    ops_views.bp,
    dashboard.bp,
    api_reference.bp,
    key_api.bp,
    signal_ingress.bp,
    segment_api.bp,
    signal_api.bp,
    outbound_api.bp,
    event_types_api.bp,
    activity_api.bp,
    activity_ingress.bp,
    mapping_api.bp,
    flow_api.bp,
    flow_ingress.bp,
    dead_letters_api.bp,
    retention_api.bp,
)


def create_app(config: Config | None = None) -> Flask:
    """Create the app: configuration, database, Redis and queues, blueprints, error handlers, CLI."""
    config = config or credentials.ready_to_start(Config.from_env(), LOCAL_KEY_FILE)
    app = Flask(__name__)
    app.config["HOOKYARD"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    configure_sessions(app, config)
    app.json.sort_keys = False
    app.database = bind_database(config.database_url)
    app.redis = connect_redis(config.redis_url) if config.redis_url else None
    app.queues = make_queues(app.redis) if app.redis else {}
    app.metrics_collector = service_collector(app.redis, config.redis_prefix, app.queues) if app.redis else None
    if app.redis:
        app.extensions["signal_intake"] = SignalIntake(
            app.redis, SignalKeys(config.redis_prefix), app.queues[INGEST_QUEUE]
        )
        app.extensions["flow_scripts"] = FlowScripts(app.redis)
    app.url_map.converters["int"] = IdConverter  # before the rules are bound
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.add_url_rule("/", "home", lambda: redirect("/dashboard/"))
    if config.trusted_proxy_hops:  # the client's address (sign-in throttling) and scheme, as the proxy saw them
        hops = config.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    register_request_hooks(app)
    errors.init_app(app)
    cli.init_app(app)
    dead_letters_cli.init_app(app)
    retention_cli.init_app(app)
    return app


def configure_sessions(app: Flask, config: Config) -> None:
    """The dashboard's cookie: signed with a key derived from HOOKYARD_ENCRYPTION_KEY, HttpOnly, SameSite=Lax,
    Secure when the service is reached over https."""
    app.secret_key = (
        credentials.derived_key(config.encryption_key, "dashboard-session") if config.encryption_key else None
    )
    app.config.update(
        SESSION_COOKIE_NAME="hy_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.public_url.startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as the session it is kept in
    )


# What a web process started without REDIS_URL still answers: whether it is up and ready, what it is, and the
# files its error page needs. A URL that matches no route (endpoint None) stays a 404.
WITHOUT_QUEUE = {None, "ops.healthz", "ops.readyz", "ops.prometheus_metrics", "ops.openapi_document", "home",
                 "static", "dashboard.static"}  # fmt: skip


def register_request_hooks(app: Flask) -> None:
    """Check each request's URL (and, without REDIS_URL, refuse what needs the queue); record request metrics."""

    @app.before_request
    def start_request():
        g.started_at = time.perf_counter()
        query = request.query_string
        if "\x00" in request.path or (query and (b"%00" in query or b"\x00" in query)):
            raise BadRequest("The URL contains a NUL character.", code="invalid_url")
        if app.redis is None and request.endpoint not in WITHOUT_QUEUE:
            # Accepting, changing, retrying and signing in all go through Redis: one clear refusal, never a 500.
            raise ServiceUnavailable("This server has no queue: REDIS_URL is not set. Set it and restart.")

    @app.after_request
    def record_request(response):
        # The rule, never the path: paths carry API keys and webhook tokens.
        rule = request.url_rule
        metrics.record_request(
            rule.rule if rule else "unmatched",
            request.method,
            response.status_code,
            time.perf_counter() - g.get("started_at", time.perf_counter()),
        )
        return response

    @app.teardown_request
    def close_database(_exc):
        if not db.is_closed():
            db.close()
