"""`python worker.py` as deployed: real worker processes (with RQ's scheduler) started, stopped and killed."""

import datetime
import itertools
import json
import os
import signal
import subprocess
import threading
import time

import pytest
from rq.job import Job, JobStatus

from models import Signal
from tests.helpers import (
    SEED_ACTIVITY,
    SIGNAL_BULK,
    create_rule,
    create_webhook,
    deliveries,
    import_status,
    lead_by_email,
    post_activity,
    publish_event,
    send_signal,
    wait_until,
)
from tests.processes import start_worker


def start_quick_worker(config, tmp_path, name: str) -> subprocess.Popen:
    """Start `python worker.py` on a short heartbeat and maintenance interval, logging to tmp_path/<name>.log."""
    return start_worker(config, tmp_path / f"{name}.log", WORKER_HEARTBEAT_TTL="4", WORKER_MAINTENANCE_INTERVAL="3")


@pytest.mark.slow
def test_a_worker_killed_mid_import_is_finished_by_a_fresh_one_exactly_once(
    app, config, client, org, signal_key, tmp_path
):
    total = 30_000
    signals = [{"email": f"bulk{n % 500}@x.io", "event": "Imported", "n": n} for n in range(total)]
    import_id = client.post(f"{SIGNAL_BULK}/{signal_key}", json={"signals": signals}).get_json()["import_id"]
    first = start_quick_worker(config, tmp_path, "first")
    try:
        wait_until(lambda: import_status(client, org, import_id)["processed"] >= 3000, timeout=60, interval=0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed_at = import_status(client, org, import_id)
        assert 0 < killed_at["processed"] < total, killed_at
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    second = start_quick_worker(config, tmp_path, "second")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and import_status(client, org, import_id)["status"] != "done":
            time.sleep(0.2)
        status = import_status(client, org, import_id)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    logs = "".join((tmp_path / f"{name}.log").read_text()[-3000:] for name in ("first", "second"))
    assert status["status"] == "done", logs
    assert status["processed"] == total
    assert status["duplicates"] == 0
    assert Signal.select().count() == total
    assert Signal.select(Signal.dedupe_key).distinct().count() == total


@pytest.mark.slow
def test_sigterm_finishes_the_job_in_hand_then_exits(app, config, tmp_path):
    marker = tmp_path / "done"
    process = start_worker(config, tmp_path / "worker.log")
    try:
        job = app.queues["default"].enqueue("tests.fixtures.sleep_then_write", 1.5, str(marker))
        deadline = time.monotonic() + 15
        while job.get_status(refresh=True) != JobStatus.STARTED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.get_status() == JobStatus.STARTED
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert marker.exists(), (tmp_path / "worker.log").read_text()
    assert job.get_status(refresh=True) == JobStatus.FINISHED


@pytest.mark.slow
def test_sigterm_to_the_whole_process_group_still_finishes_the_job_in_hand(app, config, tmp_path):
    # honcho and container platforms signal every process, so each queue worker gets SIGTERM twice: once
    # itself, once forwarded by worker.py. The second must not turn the warm shutdown into a cold one.
    marker = tmp_path / "done"
    process = start_worker(config, tmp_path / "worker.log")
    try:
        job = app.queues["default"].enqueue("tests.fixtures.sleep_then_write", 1.5, str(marker))
        wait_until(lambda: job.get_status(refresh=True) == JobStatus.STARTED, timeout=15, interval=0.05)
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert marker.exists(), (tmp_path / "worker.log").read_text()
    assert job.get_status(refresh=True) == JobStatus.FINISHED


@pytest.mark.slow
def test_the_retry_schedule_runs_to_success_and_to_failure(client, org, receiver, worker_process):
    flaky = create_webhook(client, org, receiver, path="/flaky", events=["user.created"])
    dead = create_webhook(client, org, receiver, path="/dead", events=["user.created"])
    calls = {"n": 0}

    def answer(request):
        if request["path"] == "/dead":
            return 503, b"down", 0, {}
        calls["n"] += 1
        return (500, b"not yet", 0, {}) if calls["n"] <= 2 else (200, b"ok", 0, {})

    receiver.answer = answer
    publish_event(client, org)
    worker_process()
    wait_until(lambda: [d["status"] for d in deliveries(client, org, dead["id"])] == ["failed"], timeout=40)
    (ok,) = deliveries(client, org, flaky["id"])
    assert ok["status"] == "success"
    assert ok["attempts"] == 3
    (failed,) = deliveries(client, org, dead["id"])
    assert failed["attempts"] == 5
    assert failed["next_attempt_at"] is None
    assert len(receiver.received("/dead")) == 5
    assert len(receiver.received("/flaky")) == 3
    detail = client.get(f"/v1/deliveries/{failed['id']}", headers=org["headers"]).get_json()
    starts = [datetime.datetime.fromisoformat(a["started_at"].rstrip("Z")) for a in detail["attempt_log"]]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # RETRY_SCHEDULE=1,1,1,1 between attempts
    ids = {r["headers"]["webhook-id"] for r in receiver.received("/dead")}
    assert len(ids) == 1  # the same webhook-id on every retry


@pytest.mark.slow
def test_sigterm_mid_backlog_stops_within_the_timeout_and_leaves_the_rest_due(
    app, client, org, receiver, worker_process
):
    hook = create_webhook(client, org, receiver, path="/slow")
    receiver.answer = lambda request: (200, b"ok", 1.5, {})  # 64 at a time: 200 take ~5 s
    for n in range(200):
        publish_event(client, org, data={"n": n})
    process = worker_process()
    wait_until(lambda: len(receiver.received("/slow")) >= 10)
    process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - started < 2 + 2  # in-flight sends end within DELIVERY_TIMEOUT (2 s)
    sent = len(receiver.received("/slow"))
    assert sent < 200
    # What was not sent is still due and not leased: the next worker sends it at once, and each once.
    worker_process()
    listing = f"/v1/webhooks/{hook['id']}/deliveries?status=success&limit=500"
    wait_until(lambda: len(client.get(listing, headers=org["headers"]).get_json()["deliveries"]) == 200, timeout=30)
    bodies = [json.loads(r["body"])["data"]["n"] for r in receiver.received("/slow")]
    assert sorted(bodies) == list(range(200))


@pytest.mark.slow
def test_a_worker_killed_mid_delivery_loses_no_event_and_resends_under_the_same_webhook_id(
    client, org, receiver, worker_process
):
    hook = create_webhook(client, org, receiver, path="/slow")
    receiver.answer = lambda request: (200, b"ok", 0.5, {})  # recorded on arrival, answered 0.5 s later
    total = 150
    for n in range(total):
        publish_event(client, org, data={"n": n})
    first = worker_process(WORKER_MAINTENANCE_INTERVAL="1")
    wait_until(lambda: len(receiver.received("/slow")) >= 20, timeout=30)
    os.killpg(first.pid, signal.SIGKILL)  # with sends in flight: received, not yet answered or recorded
    first.wait()
    assert len(receiver.received("/slow")) < total
    # The next worker takes over the killed one's leases once they end (DELIVERY_TIMEOUT + 30 s).
    worker_process(WORKER_MAINTENANCE_INTERVAL="1")
    listing = f"/v1/webhooks/{hook['id']}/deliveries?status=success&limit=500"
    wait_until(lambda: len(client.get(listing, headers=org["headers"]).get_json()["deliveries"]) == total, timeout=90)
    webhook_ids = {}
    for request in receiver.received("/slow"):
        webhook_ids.setdefault(json.loads(request["body"])["data"]["n"], set()).add(request["headers"]["webhook-id"])
    assert sorted(webhook_ids) == list(range(total))  # every event delivered at least once
    assert all(len(ids) == 1 for ids in webhook_ids.values())  # a resend carries the first send's webhook-id
    assert len(receiver.received("/slow")) > total, "no send was in flight at the kill: the test proved nothing"


@pytest.mark.slow
def test_apply_answers_mapped_at_once_when_the_worker_is_quick(client, org, signal_key, run_jobs, worker_process):
    send_signal(client, signal_key, {"event": "Trial Started", "email": "eve@x.io"})
    run_jobs()
    rule = create_rule(client, org, name="trial", event="Trial Started", signal_name="Trial Started", score=4)
    worker_process()
    answer = None
    for _ in range(10):  # the first call can come before the worker process is listening
        answer = client.post(f"/v1/mapping-rules/{rule['id']}/apply", headers=org["headers"])
        if answer.status_code == 200:
            break
    assert answer.status_code == 200, answer.data
    assert answer.get_json()["mapped"] in (0, 1)  # an earlier 202 job may have mapped it already
    assert lead_by_email(client, org, "eve@x.io")["score"] == 4


@pytest.mark.slow
def test_concurrent_repeats_of_an_external_id_make_one_row(app, client, org, project, worker_process):
    """Eight requests at once, stored by two worker processes at once: one activity."""
    answers = []

    def send(n):
        with app.test_client() as own:
            answers.append(post_activity(own, project["path"], {**SEED_ACTIVITY, "title": f"v{n}"}).get_json())

    senders = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    assert len(answers) == 8
    assert len({answer["id"] for answer in answers}) == 1
    store_jobs = app.queues["default"].job_ids  # taken before any worker runs: the store jobs of the eight requests
    worker_process()
    worker_process()

    def every_store_job_ended():
        # Finished, or failed for good; a job RQ no longer holds was finished and deleted.
        jobs = Job.fetch_many(store_jobs, connection=app.redis)
        return all(job is None or job.get_status() in (JobStatus.FINISHED, JobStatus.FAILED) for job in jobs)

    wait_until(every_store_job_ended, timeout=30, message="the store jobs did not all end")
    rows = app.database.execute_sql("SELECT id, title FROM activity").fetchall()
    assert len(rows) == 1
    assert rows[0][0] == answers[0]["id"]
    assert (
        client.get(f"/v1/activities/{rows[0][0]}", headers=org["headers"]).get_json()["externalId"] == "call-log-9876"
    )
