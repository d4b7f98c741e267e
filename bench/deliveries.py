"""Outbound delivery benchmark: `make bench-deliveries`.

A local receiver answers every POST after 50 ms. In one run this measures:
  (a) a bare Python sender: 64 threads with kept-alive connections posting to the receiver;
  (b) Hookyard: deliveries/s from one worker process (`python worker.py`) to the same receiver;
  (c) the same with a second endpoint that hangs past DELIVERY_TIMEOUT: the first one's rate, as a
      ratio to (b) (head-of-line blocking would push it far below 1).
On SQLite, and on Postgres when BENCH_POSTGRES_URL (default the local server) answers.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import urllib3

from bench.backends import databases, redis_url
from hookyard.devserver.embedded_redis import free_port

N = int(os.environ.get("BENCH_DELIVERIES", "3000"))
DELAY = 0.05


def bare_sender(url: str, count: int, threads: int = 64) -> float:
    """Return posts/s for `threads` threads with kept-alive connections posting `count` times."""
    pool = urllib3.PoolManager(maxsize=threads)
    remaining = [count]
    lock = threading.Lock()
    body = json.dumps({"id": "evt_x", "type": "user.created", "data": {"n": 1}}).encode()

    def run():
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            pool.request("POST", url, body=body, headers={"Content-Type": "application/json"})

    started = time.perf_counter()
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return count / (time.perf_counter() - started)


def hookyard_rate(database_url: str, redis_url: str, receiver: str, hang: bool) -> float:
    """Publish N events to a 50 ms endpoint (and N to a hanging one), let one worker deliver; return its rate."""
    import redis as redis_lib

    from hookyard.core.config import Config
    from hookyard.core.credentials import generate_key
    from hookyard.core.db import bind_database
    from hookyard.core.jobs import JobContext
    from hookyard.outbound.jobs import request_dispatch

    key = generate_key()
    database = bind_database(database_url)
    fast = publish_events(database, key, receiver, hang)
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        HOOKYARD_ENCRYPTION_KEY=key,
        WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
        DELIVERY_TIMEOUT="5",
        RETRY_SCHEDULE="600,600,600,600",
    )
    redis = redis_lib.Redis.from_url(redis_url)
    redis.flushdb()
    worker = subprocess.Popen(
        [sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        request_dispatch(JobContext(Config.from_env({}, redis_url=redis_url), redis))
        return delivery_rate(fast)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        database.close()


def publish_events(database, key: str, receiver: str, hang: bool):
    """Store N events for a fast endpoint (and a hanging one); return the fast endpoint."""
    from hookyard.core.credentials import SecretBox, new_public_id
    from hookyard.core.db import db, migrate
    from hookyard.outbound.publish import publish_event
    from models import Endpoint, Organization

    migrate(database)
    for table in ("delivery_attempt", "delivery", "event", "endpoint"):
        database.execute_sql(f"DELETE FROM {table}")
    org = Organization.create(name="bench")
    box = SecretBox(key)
    secrets = {"fast": "whsec_" + "A" * 43 + "=", "hang": "bench-secret"}
    endpoints = [
        Endpoint.create(
            id=new_public_id("hook_"),
            organization=org,
            url=f"{receiver}/{name}",
            events=["*"],
            secret_encrypted=box.seal(secrets[name]),
        )
        for name in (("fast", "hang") if hang else ("fast",))
    ]
    with db.atomic():
        for n in range(N):
            publish_event(org.id, "user.created", {"n": n}, endpoints=endpoints)
    return endpoints[0]


def delivery_rate(fast) -> float:
    """Wait until every delivery to the fast endpoint succeeded; return attempts per second over their span."""
    from models import Delivery, DeliveryAttempt

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        done = Delivery.select().where((Delivery.endpoint == fast) & (Delivery.status == "success")).count()
        if done >= N:
            break
        time.sleep(0.5)
    attempts = (
        DeliveryAttempt.select(DeliveryAttempt.started_at, DeliveryAttempt.duration_ms)
        .join(Delivery)
        .where(Delivery.endpoint == fast)
    )
    starts = [a.started_at.timestamp() for a in attempts]
    ends = [a.started_at.timestamp() + a.duration_ms / 1000 for a in attempts]
    return len(starts) / (max(ends) - min(starts))


def main() -> None:
    port = free_port()
    receiver = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "receiver.py"), str(port), str(DELAY)])
    url = f"http://127.0.0.1:{port}"
    time.sleep(1)
    summary = {}
    try:
        summary["a_bare_sender_posts_per_s"] = bare_sender(url + "/fast", N)
        print(f"(a) bare Python sender, 64 threads, keep-alive: {summary['a_bare_sender_posts_per_s']:.0f} posts/s")
        with tempfile.TemporaryDirectory() as scratch, redis_url(scratch, persistent=True, own=True) as redis:
            for name, _label, database_url in databases(scratch, "bench"):
                plain = hookyard_rate(database_url, redis, url, hang=False)
                hanging = hookyard_rate(database_url, redis, url, hang=True)
                summary[name] = {
                    "b_deliveries_per_s": plain,
                    "b_ratio_to_bare": plain / summary["a_bare_sender_posts_per_s"],
                    "c_with_hanging_endpoint_per_s": hanging,
                    "c_ratio": hanging / plain,
                }
                print(
                    f"[{name}] (b) one worker: {plain:.0f} deliveries/s "
                    f"({summary[name]['b_ratio_to_bare']:.2f} of bare); (c) beside a hanging endpoint: "
                    f"{hanging:.0f}/s = {summary[name]['c_ratio']:.2f} of (b)"
                )
    finally:
        receiver.kill()
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
