"""The Flask app: authenticate, validate, enqueue, answer. No slow work in a request.

Only the WSGI server and the tests import this module.
"""

import logging
import time

import click
import orjson
import peewee
import redis
from flask import Flask, g, request
from playhouse.pool import MaxConnectionsExceeded
from werkzeug.exceptions import HTTPException

from hookyard.activities import api as activities
from hookyard.activities import ingress
from hookyard.core import metrics
from hookyard.core.config import Config
from hookyard.core.credentials import SecretBoxError, display_prefix, hash_credential, new_credential
from hookyard.core.db import bind_database, db, migrate
from hookyard.core.errors import ApiError, BadRequest, ServiceUnavailable
from hookyard.core.queues import INGEST_QUEUE, connect_redis, make_queues
from hookyard.flows import api as flows
from hookyard.flows import ingress as flow_ingress
from hookyard.flows.intake import FlowScripts
from hookyard.keys import api as api_keys
from hookyard.mapping import api as mapping
from hookyard.ops import views as ops
from hookyard.outbound import api as webhooks
from hookyard.signals import api as signal_api
from hookyard.signals import ingress as signals
from hookyard.signals.buffer import SignalKeys
from hookyard.signals.intake import SignalIntake
from models import Organization

logger = logging.getLogger(__name__)

BLUEPRINTS = (ops.bp, api_keys.bp, signals.bp, signal_api.bp, webhooks.bp, activities.bp, ingress.bp, mapping.bp,
              flows.bp, flow_ingress.bp)
MANAGEMENT_KEY_PREFIX = "hy_mgmt_"


def create_app(config: Config | None = None) -> Flask:
    """Create the app: configuration, database, Redis and queues, blueprints, error handlers, CLI."""
    config = config or Config.from_env()
    app = Flask(__name__)
    app.config["HOOKYARD"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False
    app.database = bind_database(config.database_url)
    app.redis = connect_redis(config.redis_url) if config.redis_url else None
    app.queues = make_queues(app.redis) if app.redis else {}
    app.metrics_collector = metrics.RedisCollector(app.redis, config.redis_prefix, app.queues) if app.redis else None
    if app.redis:
        app.extensions["signal_intake"] = SignalIntake(app.redis, SignalKeys(config.redis_prefix),
                                                       app.queues[INGEST_QUEUE])
        app.extensions["flow_scripts"] = FlowScripts(app.redis)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_request_hooks(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def register_request_hooks(app: Flask) -> None:
    """Open a database connection per request and record request metrics."""

    @app.before_request
    def start_request():
        g.started_at = time.perf_counter()
        query = request.query_string
        if "\x00" in request.path or (query and (b"%00" in query or b"\x00" in query)):
            raise BadRequest("The URL contains a NUL character.", code="invalid_url")

    @app.after_request
    def record_request(response):
        # The rule, never the path: paths carry API keys and webhook tokens.
        rule = request.url_rule
        metrics.record_request(rule.rule if rule else "unmatched", request.method, response.status_code,
                               time.perf_counter() - g.get("started_at", time.perf_counter()))
        return response

    @app.teardown_request
    def close_database(_exc):
        if not db.is_closed():
            db.close()


def register_error_handlers(app: Flask) -> None:
    """Answer every error, expected or not, with the one JSON error vocabulary."""

    def respond(error: ApiError):
        return error.body(), error.status, error.headers

    @app.errorhandler(ApiError)
    def handle_api_error(error):
        return respond(error)

    @app.errorhandler(HTTPException)
    def handle_http_error(error):
        code = {413: "payload_too_large"}.get(error.code, error.name.lower().replace(" ", "_").replace("'", ""))
        headers = dict(error.get_headers())
        headers.pop("Content-Type", None)
        return respond(ApiError(error.description, code=code, status=error.code, headers=headers))

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def handle_redis_down(error):
        logger.warning("redis unavailable: %s", error)
        return respond(ServiceUnavailable("The queue (Redis) is unavailable; nothing was accepted. Retry later."))

    @app.errorhandler(peewee.OperationalError)
    @app.errorhandler(peewee.InterfaceError)
    def handle_database_down(error):
        logger.warning("database unavailable: %s", error)
        return respond(ServiceUnavailable("The database is unavailable; nothing was changed. Retry later."))

    @app.errorhandler(MaxConnectionsExceeded)
    def handle_database_busy(error):
        logger.warning("no database connection free: %s", error)
        return respond(ServiceUnavailable("The database is busy (no free connection); nothing was changed. "
                                          "Retry later."))

    @app.errorhandler(SecretBoxError)
    def handle_missing_encryption_key(error):
        logger.error("secrets cannot be sealed or opened: %s", error)
        return respond(ServiceUnavailable(f"This server cannot store or read signing secrets: {error}."))

    @app.errorhandler(Exception)
    def handle_unexpected(error):
        logger.exception("unhandled error on %s %s", request.method, request.url_rule)
        return respond(ApiError("An unexpected error occurred; it has been logged.", code="internal_error",
                                status=500))


def register_commands(app: Flask) -> None:
    """Add `flask init-db` and `flask create-org NAME`."""

    @app.cli.command("init-db")
    def init_db():
        """Create or migrate the tables (idempotent)."""
        applied = migrate(app.database)
        click.echo(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "database up to date")

    @app.cli.command("create-org")
    @click.argument("name")
    def create_org(name):
        """Create an organization and print its management key (shown only now)."""
        migrate(app.database)
        key = new_credential(MANAGEMENT_KEY_PREFIX)
        organization = Organization.create(name=name, management_key_hash=hash_credential(key),
                                           management_key_prefix=display_prefix(key))
        click.echo(orjson.dumps({"organization_id": organization.id, "management_key": key}).decode())
