"""Segment's HTTP Tracking API under /segment, so Segment's (and RudderStack's) SDKs send straight here.

An SDK configured with `host="https://<hookyard>/segment"` posts to /segment/v1/batch (or one call to
/segment/v1/track, /identify, ...) with the write key as the Basic-auth username. The write key is a
signal staging API key; a key with a secret takes it as the password, or as `<key>:<secret>` in the
SDK's write key setting. Calls then go through the signal staging pipeline with source `segment`.
Answers are Segment's: 200 `{"success": true}`; 400 past Segment's limits (32 KB a call, 500 KB a batch).
"""

import zlib

import orjson
from flask import Blueprint, request

from hookyard.core.errors import BadRequest, PayloadTooLarge, Unauthorized, UnsupportedMediaType
from hookyard.core.jsonbody import parse_json, read_raw_body
from hookyard.core.openapi import documented
from hookyard.keys.auth import authenticate_api_key
from hookyard.signals.fields import identifier
from hookyard.signals.ingress import SIGNALS, batch_items, now_ms, prepare, refusals, signal_intake
from hookyard.signals.intake import envelope
from hookyard.signals.schemas import segment_accepted_schema, segment_batch_in_schema, segment_call_in_schema

bp = Blueprint("segment", __name__, url_prefix="/segment/v1")
bp.after_request(SIGNALS.count_answer)  # counted with every other signal

CALL_TYPES = ("track", "identify", "page", "screen", "group", "alias")
MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
SOURCE = "segment"


def _write_key(body) -> tuple[str, str | None]:
    """Return the write key and secret: Basic auth (username, password), else `writeKey` in the body."""
    auth = request.authorization
    if auth is not None and auth.type == "basic" and auth.username:
        key, secret = auth.username, auth.password or None
    elif isinstance(body, dict) and isinstance(body.get("writeKey"), str) and body["writeKey"]:
        key, secret = body["writeKey"], None
    else:
        raise Unauthorized("Send the write key (a signal staging API key) as the Basic-auth username.")
    if secret is None and ":" in key:  # the SDK's write key set to "<key>:<secret>"
        key, secret = key.split(":", 1)
    # SDKs send "<write key>:" as the credentials, so a write key "<key>:<secret>" arrives as "<secret>:".
    return key, (secret.rstrip(":") or None) if secret else None


def _body() -> bytes:
    """Read the body, gunzipping it if sent with Content-Encoding: gzip, within Segment's batch limit."""
    too_large = BadRequest(f"A Segment request holds at most {MAX_BATCH_BYTES} bytes.", code="batch_too_large")
    try:
        raw = read_raw_body(request, MAX_BATCH_BYTES)
    except PayloadTooLarge:
        raise too_large from None
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding == "identity":
        return raw
    if encoding != "gzip":
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; send gzip or nothing.")
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(raw, MAX_BATCH_BYTES + 1)
    except zlib.error:
        raise BadRequest("The body is not valid gzip.", code="invalid_gzip") from None
    if len(data) > MAX_BATCH_BYTES:
        raise too_large
    return data


def _call_errors(call) -> dict | None:
    """Return the error body of a call the Tracking API refuses, or None."""
    if not isinstance(call, dict):
        return {"error": "invalid_signal", "message": "Each call must be a JSON object."}
    if call.get("type") not in CALL_TYPES:
        return {"error": "invalid_call", "message": f"type must be one of {', '.join(CALL_TYPES)}."}
    if not (identifier(call.get("anonymousId")) or identifier(call.get("userId"))):
        return {"error": "invalid_call", "message": "A Segment call needs an anonymousId or a userId."}
    if len(orjson.dumps(call)) > MAX_CALL_BYTES:
        return {"error": "call_too_large", "message": f"A Segment call holds at most {MAX_CALL_BYTES} bytes."}
    return None


def _screen(calls: list) -> tuple[list, dict]:
    """Return the calls without their writeKey (a credential is not stored), and the refused ones by index."""
    calls = [{k: v for k, v in c.items() if k != "writeKey"} if isinstance(c, dict) else c for c in calls]
    refused = {}
    for index, call in enumerate(calls):
        error = _call_errors(call)
        if error is not None:
            refused[index] = {"index": index, "error": error}
    return calls, refused


def _receive(call_type: str | None):
    """Authenticate, check and queue Segment calls; answer as Segment does, with what was refused."""
    raw = _body()
    body = parse_json(raw)
    key, secret = _write_key(body)
    record = authenticate_api_key(key, secret, "signal_staging")
    if call_type is None:
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            raise BadRequest('A Segment batch is a JSON object with a "batch" array.', code="invalid_batch")
        calls = batch_items(body)
    else:
        if not isinstance(body, dict):
            raise BadRequest("A Segment call is a JSON object.", code="invalid_call")
        calls = [{**body, "type": body.get("type") or call_type}]
    SIGNALS.carrying(len(calls))
    calls, refused = _screen(calls)
    if call_type is not None and refused:
        raise BadRequest(refused[0]["error"]["message"], code=refused[0]["error"]["error"])
    good, bad = prepare(calls, record.organization_id, None, SOURCE, refused)
    intake = signal_intake()
    first_id = intake.allocator.take(len(good))
    received_at = now_ms()
    entries = [
        (envelope(first_id + n, record.organization_id, SOURCE, received_at, orjson.dumps(payload)), fields)
        for n, (_index, _source, fields, payload) in enumerate(good)
    ]
    intake.accept(record.organization_id, entries)
    SIGNALS.answered(len(good), refusals(bad))
    answer = {"success": True, "accepted": len(good)}
    if bad:
        answer["rejected"] = [bad[index] for index in sorted(bad)]
    return answer, 200


@bp.post("/batch")
@documented(
    auth="segment",
    body=segment_batch_in_schema,
    responses={200: segment_accepted_schema},
    errors=(429,),
    tags=("segment",),
    headers=("Content-Encoding",),
)
def receive_batch():
    """Segment's batch call: up to 500 KB of calls (gzip allowed); calls it refuses are listed by index."""
    return _receive(None)


def _single(call_type: str):
    def view():
        return _receive(call_type)

    view.__name__ = f"receive_{call_type}"
    view.__doc__ = f"Segment's {call_type} call (32 KB at most)."
    return view


for _call_type in CALL_TYPES:
    bp.add_url_rule(
        f"/{_call_type}",
        view_func=documented(
            auth="segment",
            body=segment_call_in_schema,
            responses={200: segment_accepted_schema},
            errors=(429,),
            tags=("segment",),
            headers=("Content-Encoding",),
        )(_single(_call_type)),
        methods=["POST"],
    )
