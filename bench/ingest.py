"""Signal ingestion benchmark: `make bench-ingest` (needs `wrk`: apt-get install wrk).

Measures, in one run and on each database (SQLite, and Postgres when BENCH_POSTGRES_URL answers):
  (a) the ceiling: bare Flask + gunicorn parsing and validating the same JSON, answering 202;
  (a') the same plus one plain LPUSH of the body: the floor any durable queue adds (one round trip);
  (b) the single-signal endpoint, and its ratio to (a) and to (a');
  (b0) the same endpoint with its Redis call stubbed out: what its own request work costs;
  (a), (a'), (b) and (b0) run in alternation, BENCH_ROUNDS times, and the medians are reported: this
  machine's speed drifts by tens of percent over seconds, which one run of each would take for a
  difference between them;
  (c) signals/s accepted by the bulk endpoint (100,000 signals per request);
  (d) end-to-end signals/s from a bulk request to rows in the database, with one worker;
  (e) a sustained single-signal load with one worker draining: does the buffer stay bounded?
Everything runs on 127.0.0.1, bounded in time. Numbers are printed as they come and summarised.
"""

import json
import os
import shutil
import signal
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
from bench.baseline_app import LPUSH_KEY
from hookyard.core.credentials import generate_key
from hookyard.devserver.embedded_redis import free_port

BIN = os.path.dirname(sys.executable)
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
SIGNAL = {
    "email": "bench@example.com",
    "event": "Pricing Page Viewed",
    "properties": {"path": "/pricing", "referrer": "https://example.com/"},
    "context": {"page": {"url": "https://example.com/pricing"}},
}


def wrk(url: str, body: dict, seconds: int = DURATION) -> float:
    """Return the requests/s wrk measures POSTing `body` to `url` (non-2xx answers are reported)."""
    script = f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
    return run_wrk(url, script + 'wrk.headers["Content-Type"] = "application/json"\n', seconds)


def run_wrk(url: str, script: str, seconds: int) -> float:
    """Run wrk with the Lua `script` against `url` for `seconds`; return its requests/s, reporting non-2xx answers."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        out = subprocess.run(
            ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", lua.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    if "Non-2xx" in out:
        print("   wrk saw non-2xx answers:", [line for line in out.splitlines() if "Non-2xx" in line])
    return float(next(line for line in out.splitlines() if line.startswith("Requests/sec")).split()[1])


def wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def post(url: str, data: bytes, content_type="application/json", headers=None):
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type, **(headers or {})})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def get(url: str, headers: dict):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
        return json.loads(response.read())


class Service:
    """gunicorn (the Procfile's web command), optionally a worker, against one database and one Redis."""

    def __init__(self, database_url: str, redis_url: str, var_dir: str):
        self.env = dict(
            os.environ,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            HOOKYARD_VAR_DIR=var_dir,
            PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
            WEB_CONCURRENCY="2",
            HOOKYARD_ENCRYPTION_KEY=generate_key(),  # no process starts without one
        )
        self.processes = []

    def start_web(self, app_spec: str) -> str:
        port = free_port()
        env = dict(self.env, PORT=str(port))
        self.processes.append(
            subprocess.Popen(
                [f"{BIN}/gunicorn", "--config", "gunicorn.conf.py", app_spec],
                cwd=ROOT,
                env=env,
                stderr=subprocess.DEVNULL,
            )
        )
        base = f"http://127.0.0.1:{port}"
        # Hookyard answers /healthz; the bare baseline has no such route.
        wait_up(base + "/healthz") if app_spec != "bench.baseline_app:create_app()" else time.sleep(1.5)
        return base

    def start_worker(self):
        process = subprocess.Popen([f"{BIN}/python", "worker.py"], cwd=ROOT, env=self.env, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def run(self, *args) -> str:
        return subprocess.run(
            [f"{BIN}/flask", "--app", "app", *args], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def compare_single(baseline: str, lpush: str, endpoint: str, unqueued: str) -> dict:
    """Measure (a), (a'), (b) and (b0) in alternation, ROUNDS times; return the medians and the ratios'."""
    seconds = max(2, DURATION // 2)
    rounds = []
    for number in range(ROUNDS):
        a, a_lpush, b, b0 = (wrk(url, SIGNAL, seconds) for url in (baseline, lpush, endpoint, unqueued))
        rounds.append((a, a_lpush, b, b0))
        print(
            f"   round {number + 1}: (a) {a:.0f}  (a') {a_lpush:.0f}  (b) {b:.0f}  (b0) {b0:.0f} req/s"
            f"  b/a {b / a:.2f}  a'/a {a_lpush / a:.2f}  b/a' {b / a_lpush:.2f}  b0/a {b0 / a:.2f}"
        )
    results = {
        "a_baseline_rps": median([r[0] for r in rounds]),
        "a_lpush_rps": median([r[1] for r in rounds]),
        "b_single_rps": median([r[2] for r in rounds]),
        "b0_unqueued_rps": median([r[3] for r in rounds]),
        "b_ratio": median([r[2] / r[0] for r in rounds]),
        "a_lpush_ratio": median([r[1] / r[0] for r in rounds]),
        "b_to_lpush_ratio": median([r[2] / r[1] for r in rounds]),
        "b0_ratio": median([r[3] / r[0] for r in rounds]),
    }
    print(f"(a) bare Flask+gunicorn validate-only: {results['a_baseline_rps']:.0f} req/s (median of {ROUNDS})")
    print(f"(a') validate + one LPUSH: {results['a_lpush_rps']:.0f} req/s = {results['a_lpush_ratio']:.2f} of (a)")
    print(
        f"(b) single-signal endpoint: {results['b_single_rps']:.0f} req/s = {results['b_ratio']:.2f} of (a), "
        f"{results['b_to_lpush_ratio']:.2f} of (a')"
    )
    print(
        f"(b0) the same endpoint with its Redis call stubbed out: {results['b0_unqueued_rps']:.0f} req/s = "
        f"{results['b0_ratio']:.2f} of (a)"
    )
    return results


def count_signals(database_url: str) -> int:
    database = connect(database_url)
    try:
        return database.execute_sql("SELECT COUNT(*) FROM signal").fetchone()[0]
    finally:
        database.close()


def bench_backend(name: str, database_url: str, redis_url: str) -> dict:
    print(f"\n== {name} ==")
    var_dir = tempfile.mkdtemp(prefix="hookyard-bench-")
    service = Service(database_url, redis_url, var_dir)
    redis = redis_lib.Redis.from_url(redis_url)
    redis.flushdb()
    results = {}
    try:
        service.run("init-db")
        org = json.loads(service.run("create-org", "Bench"))
        headers = {"Authorization": f"Bearer {org['management_key']}", "Content-Type": "application/json"}
        web = service.start_web("app:create_app()")
        key = create_signal_key(web, headers)
        baseline = service.start_web("bench.baseline_app:create_app()")
        unqueued = service.start_web("bench.baseline_app:create_app_without_queue()")
        path = f"/api/signal-staging/webhook/{key}"
        results.update(compare_single(f"{baseline}/ingest", f"{baseline}/ingest-lpush", web + path, unqueued + path))
        redis.delete(LPUSH_KEY)
        buffered = redis.llen("hy:signals:buffer")
        results.update(bench_bulk(web, key, service, database_url, buffered))
        redis.delete("hy:signals:buffer")
        results.update(bench_sustained(web, key, redis))
    finally:
        service.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
    return results


def create_signal_key(web: str, headers: dict) -> str:
    """Create a signal staging API key through the API; return the key."""
    body = json.dumps({"name": "bench", "endpoint_type": "signal_staging"}).encode()
    key_request = urllib.request.Request(f"{web}/v1/api-keys", method="POST", headers=headers, data=body)
    with urllib.request.urlopen(key_request) as response:
        return json.loads(response.read())["key"]


def bench_bulk(web: str, key: str, service, database_url: str, buffered: int) -> dict:
    """(c) bulk imports accepted per second, then (d) what one worker stores per second from them."""
    n = 100_000
    body = "\n".join(json.dumps({**SIGNAL, "email": f"u{i % 5000}@example.com", "n": i}) for i in range(n))
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        post(f"{web}/api/signal-staging/bulk/{key}", body.encode(), "application/x-ndjson")
        rates.append(n / (time.perf_counter() - started))
    results = {"c_bulk_accept_sps": max(rates)}
    print(f"(c) bulk accepted: {results['c_bulk_accept_sps']:.0f} signals/s (best of 3 x {n})")
    before = count_signals(database_url)
    started = time.perf_counter()
    service.start_worker()
    target = before + buffered + 3 * n
    while count_signals(database_url) < target and time.perf_counter() - started < 300:
        time.sleep(0.5)
    stored = count_signals(database_url) - before
    results["d_end_to_end_sps"] = stored / (time.perf_counter() - started)
    print(f"(d) stored by one worker: {stored} signals at {results['d_end_to_end_sps']:.0f} signals/s")
    return results


def bench_sustained(web: str, key: str, redis) -> dict:
    """(e) a sustained single-signal load with one worker draining: the buffer each second, and 3 s after."""
    samples = []
    url = web + "/api/signal-staging/webhook/" + key
    program = (
        f"import sys; sys.path.insert(0, {ROOT!r}); from bench.ingest import wrk; "
        f"print(wrk({url!r}, {{**{SIGNAL!r}, 'n': 1}}, 20))"
    )
    load = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    while load.poll() is None:
        samples.append(redis.llen("hy:signals:buffer"))
        time.sleep(1)
    sustained = float(load.stdout.read().strip().splitlines()[-1])
    time.sleep(3)
    results = {"e_sustained_rps": sustained, "e_buffer_samples": samples}
    results["e_buffer_after_3s"] = redis.llen("hy:signals:buffer")
    print(
        f"(e) sustained {sustained:.0f} req/s with one worker draining; buffer length each second: "
        f"{samples}; 3 s after the load: {results['e_buffer_after_3s']}"
    )
    return results


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("bench/ingest.py needs wrk on PATH (Debian: apt-get install wrk)")
    summary = {}
    with tempfile.TemporaryDirectory() as scratch, redis_url(scratch, persistent=True, own=True) as redis:
        for key, label, database_url in databases(scratch, "bench"):
            summary[key] = bench_backend(label, database_url, redis)
    print("\n" + json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
