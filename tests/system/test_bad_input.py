"""A corpus of hostile input against every ingress endpoint of a real web process and worker.

Whatever arrives, the answer is never a 5xx, and everything answered 2xx is stored: each id a 202 names
is a row once the worker has run, and each bulk import ends `done` with every accepted signal processed.
Runs once per database.
"""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

import pytest

from models import Activity, FlowEvent, Signal
from tests.helpers import (
    CUSTOM_EVENT,
    GITHUB_SECRET,
    SEED_ACTIVITY,
    SIGNAL_BULK,
    SIGNAL_WEBHOOK,
    STRIPE_SECRET,
    api_get,
    payload,
    wait_until,
)

HOSTILE_VALUES = [
    None,
    "",
    " ",
    "\u0000",
    "ev\u0000nt",
    "\ud800",  # a lone surrogate: valid JSON, not encodable as UTF-8
    "\u202e\u200b",
    "x" * 70_000,
    "a@b",
    "@",
    "ann@" + "x" * 400 + ".io",
    "<script>alert(1)</script>",
    "'; DROP TABLE signal; --",
    "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2024-02-30T10:00:00Z",
    "not a date",
    0,
    -1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**40,
    1.5e308,
    True,
    [],
    [None, {"a": []}],
    {},
    {"$gt": ""},
    {"nested": {"deeper": [1, 2, {"x": "\u0000"}]}},
]

# Bodies no JSON parser should like, or that parse into something no endpoint takes.
MALFORMED_BODIES = [
    b"",
    b" ",
    b"null",
    b"[]",
    b'"x"',
    b"1",
    b"{",
    b'{"email": "ann@x.io",}',
    b"{'email': 'ann@x.io'}",
    b'{"n": NaN}',
    b'{"n": Infinity}',
    b'{"n": 1e999999}',
    b'{"email": "ann@x.io"}\x00',
    b"\x00",
    b"\xff\xfe{\x00}\x00",
    b'\xef\xbb\xbf{"email": "ann@x.io", "event": "Bom"}',
    b'{"email": "\xff\xfe@x.io", "event": "Latin"}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b'{"event": "Dup", "event": "Dup2", "email": "dup@x.io"}',
    bytes(range(256)),
]

CONTENT_TYPES = [
    None,
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-16",
    "application/xml",
    "application/x-ndjson",
]
NDJSON = "application/x-ndjson"

VALID_SIGNAL = {
    "event": "Signed Up",
    "email": "ann@x.io",
    "anonymousId": "anon-1",
    "userId": "user-1",
    "messageId": "msg-1",
    "timestamp": "2026-11-30T10:00:00Z",
    "properties": {"plan": "pro", "email": "ann@x.io"},
    "traits": {"email": "ann@x.io", "name": "Ann", "company": "X", "title": "CTO"},
}

# The nested paths the worker reads, besides every top-level field.
NESTED_PATHS = [
    ("properties", "email"),
    ("traits", "email"),
    ("traits", "name"),
    ("context", "traits", "email"),
    ("properties", "plan"),
]


def with_value(body: dict, path: tuple, value) -> dict:
    """Return a copy of `body` with `value` set at `path` (made if missing)."""
    copy = json.loads(json.dumps(body))
    target = copy
    for name in path[:-1]:
        if not isinstance(target.get(name), dict):
            target[name] = {}
        target = target[name]
    target[path[-1]] = value
    return copy


def mutations(valid: dict, nested=()) -> list[dict]:
    """Every field of `valid` (and each nested path) set to every hostile value, then each field left out."""
    paths = [(name,) for name in valid] + list(nested)
    bodies = [with_value(valid, path, value) for path in paths for value in HOSTILE_VALUES]
    bodies += [{k: v for k, v in valid.items() if k != name} for name in valid]
    bodies.append({**valid, **{f"k{n}": n for n in range(5_000)}})
    return bodies


def encode(body) -> bytes:
    return json.dumps(body).encode()


def send(url: str, body: bytes, content_type="application/json", **headers) -> tuple[int, dict]:
    """POST raw bytes; return the status and the parsed JSON answer (error answers too)."""
    if content_type is not None:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read()
    try:
        return status, json.loads(answer)
    except ValueError:
        raise AssertionError(f"{url} answered {status} with a body that is not JSON: {answer[:300]!r}") from None


class Ledger:
    """Every answer, checked as it comes: no 5xx, a JSON error naming the problem, 2xx ids kept to check."""

    def __init__(self):
        self.ids = {Signal: set(), Activity: set(), FlowEvent: set()}
        self.imports = {}  # import id -> signals accepted
        self.count = 0
        self.statuses = {}

    def record(self, endpoint: str, body: bytes, status: int, answer: dict) -> None:
        self.count += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        assert status < 500, (endpoint, body[:300], status, answer)
        if status >= 400:
            assert isinstance(answer.get("error"), str), (endpoint, body[:300], answer)
            assert answer.get("message"), (endpoint, body[:300], answer)


def send_signals(base: str, key: str, ledger: Ledger) -> None:
    url = f"{base}{SIGNAL_WEBHOOK}/{key}"
    segment = f"{base}{SIGNAL_WEBHOOK}/segment/{key}"
    bodies = mutations(VALID_SIGNAL, NESTED_PATHS)
    for name in ("segment_track.json", "segment_identify.json", "segment_alias.json", "segment_page.json"):
        bodies += mutations(payload(name), NESTED_PATHS)
    for endpoint in (url, segment):
        for body in [encode(b) for b in bodies] + MALFORMED_BODIES:
            status, answer = send(endpoint, body)
            ledger.record(endpoint, body, status, answer)
            if status == 202:
                ledger.ids[Signal].add(answer["id"])
    for content_type in CONTENT_TYPES:
        status, answer = send(url, encode(VALID_SIGNAL), content_type)
        ledger.record(url, content_type.encode() if content_type else b"", status, answer)
        if status == 202:
            ledger.ids[Signal].add(answer["id"])


def send_batches_and_imports(base: str, key: str, ledger: Ledger) -> None:
    """One batch and one bulk import per field, each holding that field's every hostile value."""
    batch_url = f"{base}{SIGNAL_WEBHOOK}/{key}/batch"
    bulk_url = f"{base}{SIGNAL_BULK}/{key}"
    per_field = [[with_value(VALID_SIGNAL, (name,), value) for value in HOSTILE_VALUES] for name in VALID_SIGNAL]
    for items in [*per_field, {"batch": per_field[0]}, [*per_field[1], "x", None, 5]]:
        body = encode(items)
        status, answer = send(batch_url, body)
        ledger.record(batch_url, body, status, answer)
        if status == 202:
            ledger.ids[Signal].update(row["id"] for row in answer["signals"] if "id" in row)
    for items in per_field:
        ndjson = b"\n".join(encode(item) for item in items) + b"\n{broken\n\xff\n"
        parseable = [item for item in items if "\\ud800" not in json.dumps(item)]  # a lone surrogate spoils a body
        for body, content_type in ((encode({"signals": parseable}), "application/json"), (ndjson, NDJSON)):
            status, answer = send(bulk_url, body, content_type)
            ledger.record(bulk_url, body, status, answer)
            if status == 202:
                ledger.imports[answer["import_id"]] = answer["accepted"]
    for body in MALFORMED_BODIES:
        for url in (batch_url, bulk_url):
            status, answer = send(url, body)
            ledger.record(url, body, status, answer)


def send_activities(base: str, path: str, ledger: Ledger) -> None:
    url = base + path
    # An activity repeating an externalId updates the first: each gets its own, to be a row of its own.
    activities = mutations(SEED_ACTIVITY, [("metadata", "callDuration")])
    for n, body in enumerate(activities):
        if body.get("externalId") == SEED_ACTIVITY["externalId"]:
            body["externalId"] = f"corpus-{n}"
    bodies = [encode(b) for b in activities] + MALFORMED_BODIES
    bodies += [encode({**SEED_ACTIVITY, "startTime": "2024-01-15T11:00:00Z", "endTime": "2024-01-15T10:00:00Z"})]
    for body in bodies:
        status, answer = send(url, body)
        ledger.record(url, body, status, answer)
        if status == 202:
            ledger.ids[Activity].add(answer["id"])
    for content_type in CONTENT_TYPES:
        status, answer = send(url, encode(SEED_ACTIVITY), content_type)
        ledger.record(url, b"", status, answer)


def github_headers(body: bytes, event="push") -> dict:
    signature = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    delivery = hashlib.sha256(body).hexdigest()[:32]
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": f"sha256={signature}"}


def stripe_headers(body: bytes) -> dict:
    stamp = int(time.time())
    signature = hmac.new(STRIPE_SECRET.encode(), b"%d." % stamp + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={signature}"}


def send_flow_events(base: str, flow: dict, flow_key: str, ledger: Ledger) -> None:
    url = f"{base}/webhooks/{flow['webhook_id']}"
    custom = [encode(b) for b in mutations(CUSTOM_EVENT, [("data", "email")])] + MALFORMED_BODIES
    signed = [encode(b) for b in mutations(payload("stripe_payment_intent_succeeded.json"), [("data", "object")])]
    pushes = [encode(b) for b in mutations(payload("github_push.json"), [("repository", "full_name")])]
    requests = [(body, {"X-API-Key": flow_key}) for body in custom]
    requests += [(body, stripe_headers(body)) for body in signed + MALFORMED_BODIES]
    requests += [(body, github_headers(body)) for body in pushes + MALFORMED_BODIES]
    for event in ("", "push\u0000", "x" * 300, "../../etc", "*"):
        body = encode(CUSTOM_EVENT)
        requests.append((body, {**github_headers(body), "X-GitHub-Event": event.encode("utf-8").decode("latin-1")}))
    for body, headers in requests:
        status, answer = send(url, body, **headers)
        ledger.record(url, body, status, answer)
        if status in (200, 202):
            ledger.ids[FlowEvent].add(answer["id"])


@pytest.mark.slow
def test_no_hostile_input_is_a_5xx_and_everything_accepted_is_stored(
    client, org, signal_key, flow_key, project, make_flow, web_server, worker_process
):
    flow = make_flow(rate_limit_per_second=100_000, github_secret=GITHUB_SECRET, stripe_secret=STRIPE_SECRET)
    ledger = Ledger()
    worker_process()
    send_signals(web_server, signal_key, ledger)
    send_batches_and_imports(web_server, signal_key, ledger)
    send_activities(web_server, project["path"], ledger)
    send_flow_events(web_server, flow, flow_key, ledger)
    assert all(ledger.ids.values()), ledger.ids  # the corpus reached the stores of every kind
    assert ledger.imports
    assert 429 not in ledger.statuses, ledger.statuses  # a limit would hide what the corpus is for

    def stored(model, ids) -> int:
        return model.select().where(model.id.in_(list(ids))).count()

    wait_until(lambda: all(stored(m, ids) == len(ids) for m, ids in ledger.ids.items()), timeout=120, interval=0.5)
    for import_id, accepted in ledger.imports.items():
        status = wait_until(lambda i=import_id: _finished(client, org, i), timeout=60, interval=0.5)
        assert status["processed"] == accepted, status
    assert ledger.count > 3000


def _finished(client, org, import_id):
    status = api_get(client, org, f"/v1/imports/{import_id}")
    return status if status["status"] == "done" else None
