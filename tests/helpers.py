"""What tests share besides fixtures: paths, real payloads, waiting, a real HTTP receiver, request helpers.

Fixtures live in tests/conftest.py; everything here is plain Python, imported as `from tests.helpers import ...`.
"""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import peewee
from prometheus_client.parser import text_string_to_metric_families

from hookyard.core.db import close_database

# --- paths and payloads ------------------------------------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository: tests/ is one level down
VENV_BIN = os.path.dirname(sys.executable)
PAYLOADS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "payloads")


def payload(name: str):
    """Return a real-world payload from tests/payloads (see its README for provenance)."""
    with open(os.path.join(PAYLOADS, name), "rb") as source:
        return json.loads(source.read())


def payload_bytes(name: str) -> bytes:
    with open(os.path.join(PAYLOADS, name), "rb") as source:
        return source.read()


# --- waiting and real servers ------------------------------------------------------------------------


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1, message: str = "condition not reached"):
    """Poll `predicate` until it returns something true and return that; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} within {timeout}s")
        time.sleep(interval)


def wait_for(url: str, timeout: float = 30.0):
    """Return (status, JSON) of the first answer a starting server gives at `url`; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status, json.loads(response.read())
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def http_json(url: str, body=None, headers=None, timeout: float = 30):
    """Send `body` as JSON to a real server (GET without one); return (status, JSON), error answers too."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class Receiver:
    """A real HTTP server on 127.0.0.1 that records what it receives and answers from a script."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.answer = lambda request: (200, b'{"ok": true}', 0.0, {})
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-body (a killed worker): no request arrived
                    self.close_connection = True
                    return
                request = {"path": self.path, "headers": dict(self.headers), "body": body, "at": time.time()}
                with receiver.lock:
                    receiver.requests.append(request)
                status, payload, delay, headers = receiver.answer(request)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # the default backlog of 5 drops connects beyond it: a 1 s SYN retry

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def received(self, path=None) -> list:
        with self.lock:
            return [r for r in self.requests if path is None or r["path"] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- the database ------------------------------------------------------------------------------------


def empty_tables(database) -> None:
    """Delete every row the test left, keeping the migrated schema."""
    # The id block keeps counting across tests: ids are never reused, as in production.
    tables = [t for t in database.get_tables() if t not in ("schema_migration", "id_block")]
    if isinstance(database, peewee.PostgresqlDatabase):
        database.execute_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    else:
        with database.atomic():
            database.execute_sql("PRAGMA defer_foreign_keys = ON")
            for table in tables:
                database.execute_sql(f'DELETE FROM "{table}"')
    close_database(database)


# --- signals -----------------------------------------------------------------------------------------

SIGNAL_WEBHOOK = "/api/signal-staging/webhook"
SIGNAL_BULK = "/api/signal-staging/bulk"


def post_signal(client, key, body, path=None, **headers):
    """POST one signal to the staging webhook of `key` (or to `path`); return the response."""
    return client.post(path or f"{SIGNAL_WEBHOOK}/{key}", json=body, headers=headers)


def send_signal(client, key, body, source=None):
    """POST one signal (under `source` when given), check it was accepted, and return its id."""
    path = f"{SIGNAL_WEBHOOK}/{source}/{key}" if source else f"{SIGNAL_WEBHOOK}/{key}"
    response = client.post(path, json=body)
    assert response.status_code == 202, response.data
    return response.get_json()["id"]


def segment_call(name, message_id, **changes):
    """A real Segment call from tests/payloads under a messageId of its own."""
    return {**payload(name), "messageId": message_id, **changes}


def import_status(client, org, import_id):
    return client.get(f"/v1/imports/{import_id}", headers=org["headers"]).get_json()


def api_get(client, org, path):
    """GET a management API path as `org`, check it answered 200, and return its JSON."""
    response = client.get(path, headers=org["headers"])
    assert response.status_code == 200, response.data
    return response.get_json()


def lead_by_email(client, org, email):
    leads = api_get(client, org, f"/v1/leads?email={email}")["leads"]
    return leads[0] if leads else None


# --- mapping rules -----------------------------------------------------------------------------------

DEMO_RULE = {
    "name": "Demo form",
    "event": "Demo Requested",
    "conditions": [{"field": "properties.plan", "op": "in", "value": ["pro", "enterprise"]}],
    "field_map": {"email": "traits.email", "company": "traits.company", "title": "traits.title", "name": "traits.name"},
    "signal_name": "Demo Requested",
    "score": 10,
}


def create_rule(client, org, **body):
    response = client.post("/v1/mapping-rules", json=body, headers=org["headers"])
    assert response.status_code == 201, response.data
    return response.get_json()


# --- activities --------------------------------------------------------------------------------------

# The seed's example, as a custom CRM would send it with curl.
SEED_ACTIVITY = {
    "title": "Customer Inquiry Handled",
    "description": "Resolved billing question for customer #4521",
    "startTime": "2024-01-15T10:30:00Z",
    "endTime": "2024-01-15T10:45:00Z",
    "trigger": "phone_call",
    "event": "support_call_completed",
    "memberEmail": "agent@example.com",
    "externalId": "call-log-9876",
    "metadata": {"callDuration": 900, "customerSatisfaction": 5},
}


def post_activity(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def get_activity(client, org, activity_id):
    return client.get(f"/v1/activities/{activity_id}", headers=org["headers"])


# --- flows -------------------------------------------------------------------------------------------

GITHUB_SECRET = "It's a Secret to Everybody"  # GitHub's documented test vector secret
PUSH_SIGNATURE = "sha256=8932d8769b1f990ebb7d03235a66217b1de8e48d0c626166d4e8fcac027a123d"  # payloads/README
PING_SIGNATURE = "sha256=0781a4c342e19ba538f4541868124c3fc6deb4b56ae69a04a38e6cd5c188806a"
PUSH_HEADERS = {
    "X-GitHub-Event": "push",
    "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    "X-Hub-Signature-256": PUSH_SIGNATURE,
    "User-Agent": "GitHub-Hookshot/044aadd",
    "Content-Type": "application/json",
}
STRIPE_SECRET = "whsec_test_secret"
STALE_STRIPE_SIGNATURE = "t=1648320040,v1=1bb6b032acb2fc039354a9ed03a34479242be0e1d77a0ef433781dd85ad36c1a"
# The custom-API example: a service posting its own event with a flow key.
CUSTOM_EVENT = {
    "event": "user.signup",
    "data": {"email": "ann@example.com", "plan": "pro"},
    "timestamp": "2026-11-23T09:00:00Z",
}


def post_to_flow(client, flow, body=None, raw=None, **headers):
    """POST `body` as JSON (or the `raw` bytes) to the flow's webhook URL; return the response."""
    data = raw if raw is not None else json.dumps(body).encode()
    headers.setdefault("Content-Type", "application/json")
    return client.post(f"/webhooks/{flow['webhook_id']}", data=data, headers=headers)


def flow_events(client, org, flow, query=""):
    response = client.get(f"/v1/flows/{flow['id']}/events{query}", headers=org["headers"])
    assert response.status_code == 200, response.data
    return response.get_json()["events"]


def flow_metrics(client, org, flow, window="1h"):
    response = client.get(f"/v1/flows/{flow['id']}/metrics?window={window}", headers=org["headers"])
    assert response.status_code == 200, response.data
    return response.get_json()


def subscribe(client, org, receiver, events=("flow.*",)):
    """Subscribe `receiver` to `events` with an outbound webhook; return the webhook (with its secret)."""
    hook = client.post("/v1/webhooks", json={"url": receiver.url(), "events": list(events)}, headers=org["headers"])
    assert hook.status_code == 201, hook.data
    return hook.get_json()


# --- outbound webhooks -------------------------------------------------------------------------------


def create_webhook(client, org, receiver, path="/hook", **body):
    response = client.post(
        "/v1/webhooks", json={"url": receiver.url(path), "events": ["*"], **body}, headers=org["headers"]
    )
    assert response.status_code == 201, response.data
    return response.get_json()


def publish_event(client, org, event_type="user.created", data=None, **body):
    response = client.post(
        "/v1/events", json={"type": event_type, "data": data or {"id": 1}, **body}, headers=org["headers"]
    )
    assert response.status_code == 202, response.data
    return response.get_json()


def deliveries(client, org, hook_id, status=None):
    query = f"?status={status}" if status else ""
    return client.get(f"/v1/webhooks/{hook_id}/deliveries{query}", headers=org["headers"]).get_json()["deliveries"]


# --- metrics -----------------------------------------------------------------------------------------


def scrape(client) -> dict:
    """GET /metrics, parse it as Prometheus does, and return every sample: {(name, *labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, *sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, *sorted(labels.items())), 0.0)


def grew(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)
