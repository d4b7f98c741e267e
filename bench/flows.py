"""Flow ingress benchmark: `make bench-flows` (needs `wrk`: apt-get install wrk).

Every request is the real GitHub push payload, signed as GitHub signs it, with a fresh
X-GitHub-Delivery (so none is a duplicate). In one run, on each database (SQLite, and Postgres
when BENCH_POSTGRES_URL answers):
  (a) the ceiling: bare Flask + gunicorn verifying the signature and reading the event, answering 200;
  (b) `POST /webhooks/<id>` on Hookyard (rate limit, signature, dedupe claim, queue), and its ratio to (a);
  (a) and (b) run in alternation, BENCH_ROUNDS times, and the medians are reported;
  (c) end to end: events logged (and published to one subscriber) per second by one worker.
Everything runs on 127.0.0.1, bounded in time.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import redis as redis_lib
from playhouse.db_url import connect

from bench.backends import databases, redis_url
from bench.ingest import DURATION, ROUNDS, Service, median, post, run_wrk
from hookyard.core.credentials import generate_key
from hookyard.devserver.embedded_redis import free_port

SECRET = "It's a Secret to Everybody"
BODY = open(os.path.join(ROOT, "tests", "payloads", "github_push.json"), "rb").read()
SIGNATURE = "sha256=8932d8769b1f990ebb7d03235a66217b1de8e48d0c626166d4e8fcac027a123d"


def wrk(url: str, seconds: int = DURATION) -> float:
    """Requests/s wrk measures posting the signed push, each with its own X-GitHub-Delivery."""
    script = (
        f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY.decode())}\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["X-GitHub-Event"] = "push"\n'
        f'wrk.headers["X-Hub-Signature-256"] = "{SIGNATURE}"\n'
        "local n = 0\nlocal thread_id = math.random(1, 1e9)\n"
        "request = function()\n  n = n + 1\n"
        '  wrk.headers["X-GitHub-Delivery"] = thread_id .. "-" .. n\n'
        "  return wrk.format()\nend\n"
    )
    return run_wrk(url, script, seconds)


def count_events(database_url: str) -> int:
    database = connect(database_url)
    try:
        return database.execute_sql("SELECT COUNT(*) FROM flow_event").fetchone()[0]
    finally:
        database.close()


def bench_backend(name: str, database_url: str, redis_url: str, receiver_url: str) -> dict:
    print(f"\n== {name} ==")
    var_dir = tempfile.mkdtemp(prefix="hookyard-bench-")
    service = Service(database_url, redis_url, var_dir)
    service.env.update(WEBHOOK_ALLOW_PRIVATE_NETWORKS="true", HOOKYARD_ENCRYPTION_KEY=generate_key())
    redis_lib.Redis.from_url(redis_url).flushdb()
    results = {}
    try:
        service.run("init-db")
        org = json.loads(service.run("create-org", "Bench"))
        headers = {"Authorization": f"Bearer {org['management_key']}"}
        web = service.start_web("app:create_app()")
        flow = post(
            f"{web}/v1/flows",
            json.dumps({"name": "bench", "github_secret": SECRET, "rate_limit_per_second": 100_000}).encode(),
            headers=headers,
        )
        post(f"{web}/v1/webhooks", json.dumps({"url": receiver_url, "events": ["flow.*"]}).encode(), headers=headers)
        baseline = service.start_web("bench.baseline_app:create_app()")
        with urllib.request.urlopen(
            urllib.request.Request(
                f"{baseline}/flow",
                data=BODY,
                headers={
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "push",
                    "X-Hub-Signature-256": SIGNATURE,
                },
            )
        ) as r:
            assert json.loads(r.read())["event"] == "push"

        results.update(compare_rounds(f"{baseline}/flow", f"{web}/webhooks/{flow['webhook_id']}"))
        started = time.perf_counter()
        queued = results.pop("queued")
        service.start_worker()
        while count_events(database_url) < queued * 0.95 and time.perf_counter() - started < 300:
            time.sleep(0.5)
        stored = count_events(database_url)
        results["c_end_to_end_eps"] = stored / (time.perf_counter() - started)
        print(f"(c) logged and published by one worker: {stored} events at {results['c_end_to_end_eps']:.0f}/s")
    finally:
        service.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
    return results


def compare_rounds(baseline_url: str, flow_url: str) -> dict:
    """(a) and (b) in alternation, medians reported: this machine's speed drifts over seconds."""
    seconds, rounds = max(2, DURATION // 2), []
    for number in range(ROUNDS):
        a, b = wrk(baseline_url, seconds), wrk(flow_url, seconds)
        rounds.append((a, b))
        print(f"   round {number + 1}: (a) {a:.0f}  (b) {b:.0f} req/s  b/a {b / a:.2f}")
    results = {
        "a_baseline_rps": median([a for a, _ in rounds]),
        "b_flow_rps": median([b for _, b in rounds]),
        "b_ratio": median([b / a for a, b in rounds]),
    }
    print(f"(a) bare Flask+gunicorn verify + read: {results['a_baseline_rps']:.0f} req/s (median of {ROUNDS})")
    print(f"(b) POST /webhooks/<id>: {results['b_flow_rps']:.0f} req/s = {results['b_ratio']:.2f} of (a)")
    results["queued"] = int(sum(b for _, b in rounds) * seconds)
    return results


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("bench/flows.py needs wrk on PATH (Debian: apt-get install wrk)")
    summary = {}
    port = free_port()
    receiver = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "receiver.py"), str(port), "0"])
    receiver_url = f"http://127.0.0.1:{port}/hook"
    try:
        run_all(summary, receiver_url)
    finally:
        receiver.kill()
    print("\n" + json.dumps(summary, indent=2))


def run_all(summary: dict, receiver_url: str) -> None:
    with tempfile.TemporaryDirectory() as scratch, redis_url(scratch, persistent=True, own=True) as redis:
        for key, label, database_url in databases(scratch, "bench"):
            summary[key] = bench_backend(label, database_url, redis, receiver_url)


if __name__ == "__main__":
    main()
