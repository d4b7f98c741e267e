"""Signal staging ingestion: authenticate the key in the URL, validate, queue, answer 202.

The request never stores a signal. It assigns the signal its permanent id, makes one Redis round
trip (limits, usage, the ingest buffer), and leaves storing, dedupe and attribution to the worker.
"""

import time

import orjson
from flask import Blueprint, current_app, request

from hookyard.core import greenlets, metrics
from hookyard.core.credentials import new_public_id
from hookyard.core.errors import BadRequest, InvalidJson, PayloadTooLarge, ValidationFailed
from hookyard.core.http import current_config, current_secret_box
from hookyard.core.jsonbody import (
    ESCAPED_NUL,
    NUL_MESSAGE,
    nul_paths,
    parse_json,
    read_json,
    read_raw_body,
    require_json_content_type,
)
from hookyard.core.openapi import documented
from hookyard.keys.auth import authenticate_api_key
from hookyard.signals.fields import detect_source, is_valid_source, read_fields
from hookyard.signals.intake import envelope
from hookyard.signals.schemas import (
    batch_accepted_schema,
    signal_accepted_schema,
    signal_batch_in_schema,
    signal_in_schema,
)

bp = Blueprint("signal_staging", __name__, url_prefix="/api/signal-staging")
SIGNALS = metrics.IntakeCounters("signals", "Signals")
bp.after_request(SIGNALS.count_answer)

ACCEPTED_MESSAGE = "Signal received and queued for processing"
MAX_BATCH_SIGNALS = 4000  # Segment's largest batch setting
MAX_BULK_SIGNALS = 100_000
BULK_CHUNK_SIZE = 1000
NDJSON = "application/x-ndjson"
WEBHOOK_METHODS = ("POST", "PUT", "PATCH")  # Segment's Webhooks (Actions) destination may send any of them
KEY_HEADERS = ("X-Api-Secret", "X-Signature", "X-Source")  # what the views read besides the body
PAUSE_EVERY = 256  # signals validated between two chances for the process's other requests to run


def signal_intake():
    return current_app.extensions["signal_intake"]


def _authenticate(api_key: str, max_bytes: int):
    """Authenticate the key in the URL, with X-Api-Secret or (Segment's Actions) an X-Signature of the body."""
    secret, signature = request.headers.get("X-Api-Secret"), request.headers.get("X-Signature")
    signed = None
    if signature is not None and not secret:
        signed = (signature, read_raw_body(request, max_bytes), current_secret_box())
    return authenticate_api_key(api_key, secret, "signal_staging", signed)


def _slug(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    slug = value.strip().lower()
    if not is_valid_source(slug):
        raise BadRequest(f"{what} must be a slug of letters, digits, '_' or '-', got {value!r}.", code="invalid_source")
    return slug


def now_ms() -> int:
    return int(time.time() * 1000)


def refusals(bad: dict) -> list[str]:
    """Return the error code of each refused row of a batch or import."""
    return [row["error"]["error"] for row in bad.values()]


def _signal_errors(item, may_hold_nul: bool) -> dict | None:
    """Return the error body for a batch item that cannot be accepted, or None."""
    if not isinstance(item, dict):
        return {"error": "invalid_signal", "message": "Each signal must be a JSON object."}
    errors = signal_in_schema.validate(item)
    if may_hold_nul:
        errors.update({path: [NUL_MESSAGE] for path in nul_paths(item)})
    if errors:
        return {"error": "validation_failed", "message": "The signal has invalid fields.", "errors": errors}
    return None


def prepare(
    items: list,
    organization_id: int,
    url_source: str | None,
    header_source: str | None,
    rejected_rows: dict | None = None,
):
    """Split items into acceptable (index, source, fields, payload) and rejected rows, by index."""
    good, bad = [], dict(rejected_rows or {})
    may_hold_nul = ESCAPED_NUL in request.get_data(cache=True)  # the body is read already: no second read
    for index, item in enumerate(items):
        if index % PAUSE_EVERY == PAUSE_EVERY - 1:
            greenlets.pause()
        if index in bad:
            continue
        error = _signal_errors(item, may_hold_nul)
        if error is not None:
            bad[index] = {"index": index, "error": error}
            continue
        source = detect_source(item, url_source, header_source)
        good.append((index, source, read_fields(item, source), item))
    if not good:
        raise ValidationFailed(
            {str(i): [row["error"]["message"]] for i, row in sorted(bad.items())}
            or {"signals": ["The batch holds no signals."]},
            "No signal in the request can be accepted.",
        )
    return good, bad


@bp.route("/webhook/<api_key>", methods=WEBHOOK_METHODS)
@bp.route("/webhook/<source>/<api_key>", methods=WEBHOOK_METHODS)
@documented(
    auth="api_key",
    body=signal_in_schema,
    responses={202: signal_accepted_schema},
    errors=(429,),
    tags=("signal staging",),
    headers=KEY_HEADERS,
)
def receive_signal(api_key, source=None):
    """Accept one signal from any source."""
    key = _authenticate(api_key, current_config().max_signal_bytes)
    url_source = _slug(source, "The source in the URL")
    require_json_content_type(request)
    raw = read_raw_body(request, current_config().max_signal_bytes)
    payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise InvalidJson("A signal must be a JSON object.")
    errors = signal_in_schema.validate(payload)
    if ESCAPED_NUL in raw:
        errors.update({path: [NUL_MESSAGE] for path in nul_paths(payload)})
    if errors:
        raise ValidationFailed(errors, "The signal has invalid fields.")
    signal_source = detect_source(payload, url_source, _slug(request.headers.get("X-Source"), "X-Source"))
    fields = read_fields(payload, signal_source)
    intake = signal_intake()
    signal_id = intake.allocator.take(1)
    entry = envelope(signal_id, key.organization_id, signal_source, now_ms(), raw.strip())
    (cold,) = intake.accept(key.organization_id, [(entry, fields)])
    return {"id": signal_id, "message": ACCEPTED_MESSAGE, "source": signal_source, "cold_storage": cold}, 202


def batch_items(body) -> list:
    """Return the signals of a batch: a bare array, `{"signals": [...]}`, or Segment's `{"batch": [...]}`."""
    if isinstance(body, list):
        return body
    if isinstance(body.get("signals"), list):
        return body["signals"]
    if isinstance(body.get("batch"), list):
        # Segment's HTTP API batch: the top-level context applies to every call in it.
        shared = body.get("context")
        if isinstance(shared, dict):
            return [
                {**item, "context": {**shared, **(item.get("context") or {})}} if isinstance(item, dict) else item
                for item in body["batch"]
            ]
        return body["batch"]
    raise InvalidJson('A batch is a JSON array of signals, or an object with a "signals" array.')


@bp.route("/webhook/<api_key>/batch", methods=WEBHOOK_METHODS)
@documented(
    auth="api_key",
    body=signal_batch_in_schema,
    responses={202: batch_accepted_schema},
    errors=(429,),
    tags=("signal staging",),
    headers=KEY_HEADERS,
)
def receive_batch(api_key):
    """Accept a batch of signals (a JSON array, as Segment sends); bad items are reported by index."""
    key = _authenticate(api_key, current_config().max_batch_bytes)
    header_source = _slug(request.headers.get("X-Source"), "X-Source")
    items = batch_items(read_json(request, max_bytes=current_config().max_batch_bytes, expect=(list, dict)))
    SIGNALS.carrying(len(items))
    if len(items) > MAX_BATCH_SIGNALS:
        raise PayloadTooLarge(
            f"A batch holds at most {MAX_BATCH_SIGNALS} signals, got {len(items)}; use the bulk endpoint for imports."
        )
    good, bad = prepare(items, key.organization_id, None, header_source)
    intake = signal_intake()
    first_id = intake.allocator.take(len(good))
    received_at = now_ms()
    entries = [
        (envelope(first_id + n, key.organization_id, source, received_at, orjson.dumps(payload)), fields)
        for n, (_index, source, fields, payload) in enumerate(good)
    ]
    colds = intake.accept(key.organization_id, entries)
    rows = dict(bad)
    for n, ((index, source, _fields, _payload), cold) in enumerate(zip(good, colds, strict=True)):
        rows[index] = {"index": index, "id": first_id + n, "source": source, "cold_storage": cold}
    SIGNALS.answered(len(good), refusals(bad))
    return {
        "message": f"{len(good)} signal(s) received and queued for processing",
        "accepted": len(good),
        "rejected": len(bad),
        "signals": [rows[i] for i in sorted(rows)],
    }, 202


def _bulk_items(raw: bytes) -> tuple[list, dict]:
    """Parse a bulk body, NDJSON or `{"signals": [...]}`; return items and rows for unparseable lines."""
    if request.mimetype == NDJSON:
        items, bad = [], {}
        for number, line in enumerate(line for line in raw.split(b"\n") if line.strip()):
            if number % (PAUSE_EVERY * 8) == PAUSE_EVERY * 8 - 1:
                greenlets.pause()
            try:
                items.append(parse_json(line))
            except InvalidJson as error:
                bad[len(items)] = {"index": len(items), "error": error.body()}
                items.append(None)
        return items, bad
    body = parse_json(raw)
    if not isinstance(body, dict) or not isinstance(body.get("signals"), list):
        raise InvalidJson('A bulk import is NDJSON, or a JSON object with a "signals" array.')
    return body["signals"], {}


def _bulk_chunks(good: list, first_id: int, organization_id: int, received_at: int) -> list[bytes]:
    """Serialize accepted bulk signals into chunks of envelopes, the unit the import job stores."""
    envelopes = [
        {"id": first_id + n, "org": organization_id, "src": source, "at": received_at, "p": payload}
        for n, (_index, source, _fields, payload) in enumerate(good)
    ]
    chunks = []
    for start in range(0, len(envelopes), BULK_CHUNK_SIZE):
        chunks.append(orjson.dumps(envelopes[start : start + BULK_CHUNK_SIZE]))
        greenlets.pause()
    return chunks


@bp.post("/bulk/<api_key>")
@documented(
    auth="api_key",
    body=signal_batch_in_schema,
    responses={202: batch_accepted_schema},
    errors=(429,),
    tags=("signal staging",),
    headers=KEY_HEADERS,
    body_content_types=("application/json", NDJSON),
)
def receive_bulk(api_key):
    """Accept a historical import of up to 100,000 signals; follow it at /v1/imports/<import_id>."""
    key = _authenticate(api_key, current_config().max_bulk_bytes)
    header_source = _slug(request.headers.get("X-Source"), "X-Source")
    require_json_content_type(request, allowed=(NDJSON,))
    items, unparseable = _bulk_items(read_raw_body(request, current_config().max_bulk_bytes))
    SIGNALS.carrying(len(items))
    if len(items) > MAX_BULK_SIGNALS:
        raise PayloadTooLarge(f"A bulk import holds at most {MAX_BULK_SIGNALS} signals, got {len(items)}.")
    good, bad = prepare(items, key.organization_id, None, header_source, unparseable)
    intake = signal_intake()
    intake.accept(key.organization_id, [(b"", fields) for _i, _s, fields, _p in good], push=False, per_second=False)
    import_id = new_public_id("imp_")
    try:
        first_id = intake.allocator.take(len(good))
        chunks = _bulk_chunks(good, first_id, key.organization_id, now_ms())
        intake.queue_import(import_id, key.organization_id, chunks, total=len(good), failed=len(bad))
    except Exception:
        intake.refund(key.organization_id, len(good))
        raise
    SIGNALS.answered(len(good), refusals(bad))
    return {
        "message": f"Import of {len(good)} signal(s) queued for processing",
        "import_id": import_id,
        "accepted": len(good),
        "rejected": len(bad),
        "signals": [bad[i] for i in sorted(bad)],
    }, 202
