"""gunicorn glue for the `web` process: logs without credentials, and JSON for the errors gunicorn answers itself.

gunicorn refuses some requests before the app sees them (a request line or header it cannot parse, one
too long, too many headers) and answers them with an HTML page quoting what it read, which may be a URL
carrying an API key. Here those answers use the API's error vocabulary, and every line gunicorn logs,
access and error alike, has its credentials redacted.
"""

import logging

import orjson
from gunicorn import util
from gunicorn.glogging import Logger

from hookyard.core.redaction import redact


class _RedactingFilter(logging.Filter):
    """Rewrite a log record whose message holds a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class RedactingLogger(Logger):
    """gunicorn's logger, with credentials removed from every error log line and from the access log."""

    def setup(self, cfg):
        super().setup(cfg)
        self.error_log.addFilter(_RedactingFilter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """Answer a request gunicorn refused with `{"error", "message"}`, as the app answers its own errors."""
    code = "internal_error" if status_int == 500 else reason.lower().replace(" ", "_")
    body = orjson.dumps({"error": code, "message": redact(mesg) or f"{reason}."})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def answer_errors_in_json() -> None:
    """Make gunicorn's own error answers JSON (its workers call `util.write_error` for them)."""
    util.write_error = write_json_error
