"""Redis SIGKILLed and restarted while the web process is under load: 503s, never a 202 for lost work.

The web process (the Procfile's command) and `python worker.py` run on a redis-server of the test's own,
with append-only persistence as `make run` starts it, so the restart finds what was acknowledged.
"""

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from hookyard.devserver.embedded_redis import free_port
from models import Activity, FlowEvent, Signal
from tests.helpers import SEED_ACTIVITY, SIGNAL_WEBHOOK, wait_until
from tests.processes import start_redis, start_web, start_worker, stop_group

SENDERS = 3
MAX_REQUESTS = 3000  # a bound on the load, whatever the timing
ACCEPTED = (200, 202)  # a flow answers 200 "queued", signals and activities 202


def send(url: str, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
    """POST `body`; return the status, headers and body of the answer (error answers too)."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Load:
    """Threads posting signals, activities and flow events in turn until stopped; every answer is kept."""

    def __init__(self, targets: list[tuple[str, str, dict]]):
        self.targets = targets
        self.answers = []  # (kind, status, headers, body)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(SENDERS)]

    def run(self, sender: int) -> None:
        n = sender
        while not self.stop.is_set() and len(self.answers) < MAX_REQUESTS:
            kind, url, headers = self.targets[n % len(self.targets)]
            body = {
                "signal": b'{"event": "Load", "email": "load%d@x.io"}' % n,
                "activity": (b'{"title": "Load %d", "startTime": "%s"}' % (n, SEED_ACTIVITY["startTime"].encode())),
                "flow": b'{"event": "load", "n": %d}' % n,
            }[kind]
            status, answer_headers, answer = send(url, body, headers)
            self.answers.append((kind, status, answer_headers, answer))
            n += SENDERS
            time.sleep(0.01)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def count(self, *statuses: int) -> int:
        return sum(1 for answer in self.answers if answer[1] in statuses)


@pytest.mark.slow
def test_redis_killed_and_restarted_under_load_loses_nothing_it_accepted(
    config, org, project, make_flow, flow_key, signal_key, tmp_path
):
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    redis_server = start_redis(port, tmp_path, persistent=True)
    base, web = start_web(config, tmp_path, REDIS_URL=redis_url)
    worker = start_worker(config, tmp_path / "worker.log", REDIS_URL=redis_url, WORKER_MAINTENANCE_INTERVAL="1")
    flow = make_flow(rate_limit_per_second=10_000)
    targets = [
        ("signal", f"{base}{SIGNAL_WEBHOOK}/{signal_key}", {}),
        ("activity", base + project["path"], {}),
        ("flow", f"{base}/webhooks/{flow['webhook_id']}", {"X-API-Key": flow_key}),
    ]
    try:
        with Load(targets) as load:
            wait_until(lambda: load.count(*ACCEPTED) >= 30, timeout=20)
            redis_server.kill()  # SIGKILL: no shutdown save, only what the append-only file holds
            redis_server.wait()
            wait_until(lambda: load.count(503) >= 30, timeout=20)
            accepted_before_restart = load.count(*ACCEPTED)
            redis_server = start_redis(port, tmp_path, persistent=True)
            wait_until(lambda: load.count(*ACCEPTED) >= accepted_before_restart + 30, timeout=30)
        worker_log = (tmp_path / "worker.log").read_text
        answered = (*ACCEPTED, 503)
        unexpected = [(kind, status, body[:200]) for kind, status, _, body in load.answers if status not in answered]
        assert not unexpected, unexpected
        for _kind, status, headers, body in load.answers:
            if status == 503:
                assert int(headers["Retry-After"]) >= 1
                assert json.loads(body)["error"] == "service_unavailable", body
        accepted = {kind: [] for kind, _, _ in targets}
        for kind, status, _, body in load.answers:
            if status in ACCEPTED:
                accepted[kind].append(_id_of(body))
        tables = {"signal": Signal, "activity": Activity, "flow": FlowEvent}

        def everything_accepted_is_stored():
            return all(
                tables[kind].select().where(tables[kind].id.in_(ids)).count() == len(set(ids))
                for kind, ids in accepted.items()
            )

        try:
            wait_until(everything_accepted_is_stored, timeout=90, interval=0.5)
        except AssertionError:
            raise AssertionError(worker_log()[-5000:]) from None
        assert worker.poll() is None, worker_log()[-5000:]  # the worker came back on its own
    finally:
        stop_group(worker)
        stop_group(web)
        redis_server.kill()
        redis_server.wait()


def _id_of(body: bytes):
    return json.loads(body)["id"]
