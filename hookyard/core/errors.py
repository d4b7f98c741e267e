"""The one error vocabulary: exceptions the app raises, each knowing its status and JSON body."""


class ApiError(Exception):
    """An error answered as `{"error", "message", "errors"?}` with an HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 errors: dict | None = None, headers: dict | None = None):
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
