"""The fault suite: what a hostile client or a failing neighbour did to a real web process, reproduced end to end.

Each test runs the Procfile's `web` command (gunicorn, gevent) on the test database and Redis.
"""

import contextlib
import http.client
import json
import os
import signal
import socket
import time
import urllib.parse

import pytest
import redis as redis_lib
from rq import Queue

from hookyard.core.jobs import at_least_once
from hookyard.devserver.embedded_redis import free_port
from models import DeliveryAttempt
from tests.helpers import (
    CUSTOM_EVENT,
    SEED_ACTIVITY,
    SIGNAL_WEBHOOK,
    create_webhook,
    flow_events,
    get_activity,
    post_activity,
    post_to_flow,
    publish_event,
    send_signal,
    wait_until,
)
from tests.processes import start_redis, start_worker, stop_group


def post_chunked(base: str, path: str, body: bytes, content_type="application/json") -> tuple[int, dict]:
    """POST `body` in 16 KB chunks (Transfer-Encoding: chunked, no Content-Length); return (status, JSON)."""
    parts = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    chunks = (body[start : start + 16384] for start in range(0, len(body), 16384))
    try:
        connection.request("POST", path, body=chunks, headers={"Content-Type": content_type}, encode_chunked=True)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.slow
def test_a_chunked_body_over_the_limit_is_a_413_through_gunicorn(client, org, make_api_key, web_server):
    key = make_api_key()["key"]
    too_big = json.dumps({"email": "ann@x.io", "blob": "x" * (300 * 1024)}).encode()
    status, body = post_chunked(web_server, f"{SIGNAL_WEBHOOK}/{key}", too_big)
    assert status == 413
    assert body["error"] == "payload_too_large"
    status, body = post_chunked(web_server, f"{SIGNAL_WEBHOOK}/{key}", json.dumps({"email": "ann@x.io"}).encode())
    assert status == 202
    assert client.get("/v1/usage", headers=org["headers"]).get_json()["raw_signals"] == 1


def send_raw(base: str, request: bytes) -> tuple[int, str, dict]:
    """Send raw bytes to the server; return the answer's status, Content-Type and JSON body."""
    parts = urllib.parse.urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), json.loads(body)


TOO_MANY_HEADERS = "request_header_fields_too_large"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431, TOO_MANY_HEADERS),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % n for n in range(120)) + b"\r\n",
            431,
            TOO_MANY_HEADERS,
        ),
        (b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"),
    ],
)
def test_requests_gunicorn_refuses_itself_are_answered_in_json(web_server, request_bytes, status, code):
    answered, content_type, body = send_raw(web_server, request_bytes)
    assert answered == status
    assert content_type == "application/json"
    assert body["error"] == code
    assert body["message"]


@pytest.mark.slow
def test_a_key_in_a_request_line_gunicorn_cannot_parse_is_redacted_from_its_answer_and_log(
    make_api_key, web_server, tmp_path
):
    key = make_api_key()["key"]
    line = f"POST {SIGNAL_WEBHOOK}/{key}\u200b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    status, _, body = send_raw(web_server, line)
    assert status == 400
    assert key not in body["message"]
    log = (tmp_path / "web.log").read_text()
    assert "hy_live_[redacted]" in log
    assert key not in log


@pytest.mark.slow
def test_the_worker_outlives_a_redis_restart_and_then_runs_jobs(config, tmp_path):
    port = free_port()
    redis_server = start_redis(port, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    worker = start_worker(config, tmp_path / "worker.log", REDIS_URL=url, WORKER_MAINTENANCE_INTERVAL="1")
    try:
        wait_until(lambda: "Listening on" in (tmp_path / "worker.log").read_text(), timeout=20)
        redis_server.kill()
        redis_server.wait()
        time.sleep(3)  # the outage: RQ's loop meets the missing Redis in maintenance, heartbeats and dequeue
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        redis_server = start_redis(port, tmp_path)
        job = Queue("default", connection=redis_lib.Redis.from_url(url)).enqueue("tests.fixtures.succeed", 7)
        try:
            wait_until(lambda: job.get_status(refresh=True) == "finished", timeout=60, interval=0.2)
        except AssertionError:
            raise AssertionError((tmp_path / "worker.log").read_text()[-5000:]) from None
        assert job.return_value() == 7
        assert worker.poll() is None
    finally:
        stop_group(worker)
        redis_server.kill()
        redis_server.wait()


def blocked_dequeues(redis) -> list:
    """Return the Redis clients blocked waiting for a job."""
    return [client for client in redis.client_list() if client["cmd"] in ("blpop", "blmove", "brpoplpush")]


@pytest.mark.slow
def test_a_job_queued_as_the_worker_is_killed_is_run_by_the_next_one(app, config, tmp_path, redis):
    # Killed while it waits for a job, a worker may be handed the next one by Redis before Redis has seen it
    # go: RQ's BLPOP over several queues would lose that job; one queue per process (BLMOVE into an
    # intermediate list that maintenance recovers) does not.
    def start(name):
        return start_worker(config, tmp_path / f"{name}.log", WORKER_MAINTENANCE_INTERVAL="1")

    first = start("first")
    second = None
    try:
        wait_until(lambda: "Scheduler for" in (tmp_path / "first.log").read_text(), timeout=20)
        wait_until(lambda: blocked_dequeues(redis), timeout=20, interval=0.05)  # idle, waiting for a job
        first.kill()  # the worker process alone, as the OOM killer would: its children die with it
        first.wait()
        job = Queue("default", connection=redis).enqueue("tests.fixtures.succeed", 3, retry=at_least_once())
        second = start("second")
        # Run at once, or recovered from the intermediate list after RQ's minute there.
        wait_until(lambda: job.get_status(refresh=True) == "finished", timeout=120, interval=0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):  # its scheduler died with it: the group may be gone
            os.killpg(first.pid, signal.SIGKILL)
        if second is not None:
            stop_group(second)


@pytest.mark.slow
def test_signals_activities_and_flow_events_are_stored_while_every_delivery_hangs(
    client, org, receiver, signal_key, project, make_flow, flow_key, worker_process
):
    create_webhook(client, org, receiver, path="/hang", events=["user.created"])
    receiver.answer = lambda request: (200, b"late", 8, {})  # holds every send for 8 s
    for n in range(100):
        publish_event(client, org, data={"n": n})
    worker_process(DELIVERY_TIMEOUT="15")
    wait_until(lambda: len(receiver.received("/hang")) >= 10, timeout=30)  # deliveries are in flight, hanging
    signal_id = send_signal(client, signal_key, {"event": "Signed Up", "email": "ann@x.io"})
    activity = post_activity(client, project["path"], SEED_ACTIVITY).get_json()
    flow = make_flow()
    flow_event = post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key}).get_json()
    wait_until(lambda: client.get(f"/v1/signals/{signal_id}", headers=org["headers"]).status_code == 200, timeout=15)
    wait_until(lambda: get_activity(client, org, activity["id"]).status_code == 200, timeout=15)
    wait_until(lambda: flow_event["id"] in [e["id"] for e in flow_events(client, org, flow)], timeout=15)
    # All three were stored while the first sends still hung: not one attempt has ended yet.
    assert DeliveryAttempt.select().count() == 0
    assert len(receiver.received("/hang")) < 100
