"""The one error vocabulary: exceptions the app raises, each knowing its status and JSON body, and the
handlers that answer every error, expected or not, with it."""

import logging

import peewee
import redis
from flask import Flask, request
from playhouse.pool import MaxConnectionsExceeded
from werkzeug import exceptions as werkzeug_errors
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from hookyard.core.credentials import SecretBoxError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered as `{"error", "message", "errors"?}` with an HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        errors: dict | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict:
        body = {"error": self.code, "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class InvalidJson(ApiError):
    status, code = 400, "invalid_json"


class ValidationFailed(ApiError):
    status, code = 400, "validation_failed"

    def __init__(self, errors: dict, message: str = "The request body has invalid fields."):
        super().__init__(message, errors=errors)


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class RateLimited(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})


class ServiceUnavailable(ApiError):
    status, code = 503, "service_unavailable"

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(message, headers={"Retry-After": str(retry_after)})


def _routed(app: Flask, error: MethodNotAllowed) -> bool:
    """Tell whether a route exists at the path for some method. werkzeug says 405 also when a rule's pattern
    matched but its converter refused the value (an id past the largest BIGINT): then nothing is there."""
    adapter = app.url_map.bind_to_environ(request.environ)
    for method in error.valid_methods or ():
        try:
            adapter.match(method=method)
        except (werkzeug_errors.NotFound, MethodNotAllowed):
            continue
        except HTTPException:  # a redirect: something is there
            return True
        return True
    return False


def init_app(app: Flask) -> None:
    """Answer every error, expected or not, with the one JSON error vocabulary."""

    def respond(error: ApiError):
        return error.body(), error.status, error.headers

    @app.errorhandler(ApiError)
    def handle_api_error(error):
        return respond(error)

    @app.errorhandler(MethodNotAllowed)
    def handle_method_not_allowed(error):
        return handle_http_error(error if _routed(app, error) else werkzeug_errors.NotFound())

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
        return respond(
            ServiceUnavailable("The database is busy (no free connection); nothing was changed. Retry later.")
        )

    @app.errorhandler(SecretBoxError)
    def handle_missing_encryption_key(error):
        logger.error("secrets cannot be sealed or opened: %s", error)
        return respond(ServiceUnavailable(f"This server cannot store or read signing secrets: {error}."))

    @app.errorhandler(Exception)
    def handle_unexpected(error):
        logger.exception("unhandled error on %s %s", request.method, request.url_rule)
        return respond(ApiError("An unexpected error occurred; it has been logged.", code="internal_error", status=500))
