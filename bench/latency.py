"""Signal storage latency beside misbehaving subscribers: `make bench-latency`.

Sends single signals at a steady BENCH_RATE (200/s) for BENCH_SECONDS (20) to the Procfile's web process,
with the worker running, and reads each signal's latency from receipt to row (its `received_at` and
`processed_at`), p50 and p99:
  (a) alone;
  (b) while two subscribers receive every `signal.received`: one hangs until DELIVERY_TIMEOUT, the other
      sends its status line and then one header byte every half second.
(b) is reported beside (a), as ratios; the target is p99 within 1.5 x of (a). SQLite, on 127.0.0.1 only.
"""

import contextlib
import http.client
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from playhouse.db_url import connect

from bench.ingest import SIGNAL, Service, post
from hookyard.core.credentials import generate_key
from hookyard.devserver.embedded_redis import EmbeddedRedis

RATE = int(os.environ.get("BENCH_RATE", "200"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
SENDERS = 8


def misbehaving_server(trickle: bool) -> tuple[str, threading.Event]:
    """Start a receiver that hangs (or trickles header bytes) on every request; return its URL and a stop flag."""
    server, stop = socket.create_server(("127.0.0.1", 0)), threading.Event()

    def handle(connection):
        with connection, contextlib.suppress(OSError):
            connection.recv(65536)
            if trickle:
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.5):
                if trickle:
                    connection.sendall(b"a")

    def serve():
        with contextlib.suppress(OSError):
            while not stop.is_set():
                threading.Thread(target=handle, args=(server.accept()[0],), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    stop_all = threading.Event()
    threading.Thread(target=lambda: (stop_all.wait(), stop.set(), server.close()), daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}/hook", stop_all


def send_steadily(web: str, key: str, seconds: float = SECONDS) -> list[int]:
    """Send RATE signals a second for `seconds` from SENDERS threads, paced; return the ids answered."""
    host, port = web.removeprefix("http://").split(":")
    ids, lock, interval = [], threading.Lock(), SENDERS / RATE
    body = json.dumps(SIGNAL).encode()

    def sender(offset: float):
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        next_at = time.monotonic() + offset
        end = time.monotonic() + seconds
        while next_at < end:
            time.sleep(max(0.0, next_at - time.monotonic()))
            connection.request("POST", f"/api/signal-staging/webhook/{key}", body, {"Content-Type": "application/json"})
            answer = json.loads(connection.getresponse().read())
            with lock:
                ids.append(answer["id"])
            next_at += interval

    threads = [threading.Thread(target=sender, args=(n * interval / SENDERS,)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ids


def latencies(database_url: str, ids: list[int]) -> list[float]:
    """Wait until every id is stored; return each one's receipt-to-row latency in milliseconds."""
    database = connect(database_url)
    try:
        deadline = time.monotonic() + 120
        placeholders = ", ".join("?" * len(ids))
        while time.monotonic() < deadline:
            rows = database.execute_sql(
                f"SELECT received_at, processed_at FROM signal WHERE id IN ({placeholders})",
                ids,
            ).fetchall()
            if len(rows) == len(ids):
                break
            time.sleep(0.5)
        parse = _parse_time
        return [(parse(processed) - parse(received)) * 1000 for received, processed in rows]
    finally:
        database.close()


def _parse_time(value) -> float:
    import datetime

    moment = value if isinstance(value, datetime.datetime) else datetime.datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=datetime.UTC).timestamp()


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    var_dir = tempfile.mkdtemp(prefix="hookyard-latency-")
    database_url = f"sqlite:///{var_dir}/bench.db"
    with EmbeddedRedis(os.path.join(var_dir, "redis"), persistent=False) as redis_server:
        service = Service(database_url, redis_server.url, var_dir)
        service.env.update(WEBHOOK_ALLOW_PRIVATE_NETWORKS="true", HOOKYARD_ENCRYPTION_KEY=generate_key())
        try:
            results = run(service, database_url)
        finally:
            service.stop()
            shutil.rmtree(var_dir, ignore_errors=True)
    print(json.dumps(results, indent=2))


def run(service: Service, database_url: str) -> dict:
    service.run("init-db")
    org = json.loads(service.run("create-org", "Bench"))
    headers = {"Authorization": f"Bearer {org['management_key']}"}
    web = service.start_web("app:create_app()")
    service.start_worker()
    key = post(
        f"{web}/v1/api-keys", json.dumps({"name": "b", "endpoint_type": "signal_staging"}).encode(), headers=headers
    )
    latencies(database_url, send_steadily(web, key["key"], seconds=3))  # warm up: the first drain, id blocks
    p50_a, p99_a = percentiles(latencies(database_url, send_steadily(web, key["key"])))
    print(f"(a) alone: p50 {p50_a:.1f} ms, p99 {p99_a:.1f} ms at {RATE} signals/s")
    stops = []
    for trickle in (False, True):
        url, stop = misbehaving_server(trickle)
        stops.append(stop)
        subscription = {"url": url, "events": ["signal.received"]}
        post(f"{web}/v1/webhooks", json.dumps(subscription).encode(), headers=headers)
    try:
        p50_b, p99_b = percentiles(latencies(database_url, send_steadily(web, key["key"])))
    finally:
        for stop in stops:
            stop.set()
    print(f"(b) beside a hanging and a trickling subscriber: p50 {p50_b:.1f} ms, p99 {p99_b:.1f} ms")
    print(f"    (b)/(a): p50 {p50_b / p50_a:.2f}, p99 {p99_b / p99_a:.2f} (target: p99 within 1.5)")
    return {"rate": RATE, "seconds": SECONDS, "a_p50_ms": p50_a, "a_p99_ms": p99_a, "b_p50_ms": p50_b,
            "b_p99_ms": p99_b, "p99_ratio": p99_b / p99_a}  # fmt: skip


if __name__ == "__main__":
    main()
