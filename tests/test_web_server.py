"""The web process as deployed: gunicorn's gevent worker, whose concurrent requests share Redis round trips.

Other tests call the Flask app in-process, where nothing is patched and each call makes its own
round trip. These run the real server (the Procfile's command) or, for the group commit itself,
a gevent-patched Python, so the path that production takes is the one tested.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import http_json, wait_for

from hookyard.devserver.embedded_redis import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)


def run_patched(code: str, redis_url: str) -> dict:
    """Run `code` in a gevent-patched Python (as gunicorn's worker is) and return the JSON it prints."""
    program = "from gevent import monkey\nmonkey.patch_all()\n" + textwrap.dedent(code)
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, env=dict(os.environ, TEST_REDIS=redis_url),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


BATCHER_SETUP = """
    import json, os
    import gevent, redis
    from prometheus_client import REGISTRY
    from hookyard.core.script_batch import ScriptBatcher

    client = redis.Redis.from_url(os.environ["TEST_REDIS"])
    SCRIPT = "if ARGV[1] == 'fail' then return redis.error_reply('refused ' .. ARGV[2]) end " \\
             "return {ARGV[1], redis.call('INCR', KEYS[1])}"

    def round_trips(name):
        return (REGISTRY.get_sample_value("hookyard_redis_batch_calls_count", {"script": name}) or 0,
                REGISTRY.get_sample_value("hookyard_redis_batch_calls_sum", {"script": name}) or 0)
"""


def test_concurrent_calls_share_round_trips_and_each_gets_its_own_answer(redis, redis_url):
    out = run_patched(BATCHER_SETUP + """
    batcher = ScriptBatcher(client, SCRIPT, "t")
    calls = [gevent.spawn(batcher, ["counter"], [f"call-{n}"]) for n in range(300)]
    gevent.joinall(calls, raise_error=True)
    print(json.dumps({"answers": [[a.decode(), n] for a, n in (c.value for c in calls)],
                      "round_trips": round_trips("t")}))
    """, redis_url)
    answers = out["answers"]
    # Each caller got the answer to its own call, and every call ran exactly once.
    assert [echo for echo, _ in answers] == [f"call-{n}" for n in range(300)]
    assert sorted(count for _, count in answers) == list(range(1, 301))
    assert int(redis.get("counter")) == 300
    trips, carried = out["round_trips"]
    assert carried == 300 and trips < 10, out["round_trips"]


def test_a_failing_call_fails_alone_and_lost_scripts_are_loaded_again(redis, redis_url):
    out = run_patched(BATCHER_SETUP + """
    batcher = ScriptBatcher(client, SCRIPT, "t")
    def call(*args):
        try:
            return ["ok", *(v.decode() if isinstance(v, bytes) else v for v in batcher(["counter"], list(args)))]
        except redis.exceptions.ResponseError as error:
            return ["error", str(error)]
    first = [gevent.spawn(call, "a"), gevent.spawn(call, "fail", "b"), gevent.spawn(call, "c")]
    gevent.joinall(first)
    client.script_flush()  # as after a Redis restart: the next round trip meets NOSCRIPT
    second = [gevent.spawn(call, "d"), gevent.spawn(call, "e")]
    gevent.joinall(second)
    print(json.dumps({"first": [g.value for g in first], "second": [g.value for g in second]}))
    """, redis_url)
    assert out["first"] == [["ok", "a", 1], ["error", "refused b"], ["ok", "c", 2]]
    assert out["second"] == [["ok", "d", 3], ["ok", "e", 4]]


def test_more_calls_than_one_round_trip_carries_are_sent_in_several(redis, redis_url):
    out = run_patched(BATCHER_SETUP + """
    from hookyard.core import script_batch
    batcher = ScriptBatcher(client, SCRIPT, "t")
    calls = [gevent.spawn(batcher, ["counter"], [n]) for n in range(2 * script_batch.MAX_BATCH + 100)]
    gevent.joinall(calls, raise_error=True)
    print(json.dumps({"answered": sorted(int(c.value[1]) for c in calls), "round_trips": round_trips("t"),
                      "max_batch": script_batch.MAX_BATCH}))
    """, redis_url)
    total = 2 * out["max_batch"] + 100
    assert out["answered"] == list(range(1, total + 1))
    trips, carried = out["round_trips"]
    assert carried == total and trips >= 3


def test_a_connection_lost_mid_answer_keeps_the_answers_already_read(redis, redis_url):
    # A proxy in front of Redis passes the first reply, then drops the connection: the first call ran
    # and keeps its answer; the others get the error (they ran too: Redis had them; hence no retry).
    out = run_patched(BATCHER_SETUP + """
    import gevent.event
    from gevent.server import StreamServer
    from gevent.socket import create_connection

    target = client.connection_pool.connection_kwargs
    FIRST_REPLY = len(b"*2\\r\\n$1\\r\\na\\r\\n:1\\r\\n")

    def relay(downstream, address):
        upstream = create_connection((target["host"], target["port"]))
        upstream.sendall(b"SELECT %d\\r\\n" % target.get("db", 0))
        assert upstream.recv(5) == b"+OK\\r\\n"
        pipeline_sent = gevent.event.Event()
        def forward():
            while data := downstream.recv(65536):
                if b"EVALSHA" in data:
                    pipeline_sent.set()
                upstream.sendall(data)
        gevent.spawn(forward)
        passed = b""
        while not pipeline_sent.is_set():  # the connection's handshake passes untouched
            with gevent.Timeout(0.05, False):
                data = upstream.recv(65536)
                if pipeline_sent.is_set():  # the handshake was answered before: this is the pipeline's
                    passed = data
                else:
                    downstream.sendall(data)
        while len(passed) < FIRST_REPLY:
            passed += upstream.recv(FIRST_REPLY - len(passed))
        downstream.sendall(passed[:FIRST_REPLY])
        gevent.sleep(0.2)
        downstream.close()
        upstream.close()

    proxy = StreamServer(("127.0.0.1", 0), relay)
    proxy.start()
    proxied = redis.Redis(host="127.0.0.1", port=proxy.server_port)
    client.script_load(SCRIPT)
    batcher = ScriptBatcher(proxied, SCRIPT, "t")
    def call(tag):
        try:
            return [v.decode() if isinstance(v, bytes) else v for v in batcher(["counter"], [tag])]
        except redis.exceptions.ConnectionError:
            return "connection error"
    calls = [gevent.spawn(call, tag) for tag in ("a", "b", "c")]
    gevent.joinall(calls)
    print(json.dumps([g.value for g in calls]))
    """, redis_url)
    assert out == [["a", 1], "connection error", "connection error"]
    assert int(redis.get("counter")) == 3


def test_callers_waiting_on_a_killed_sender_get_an_error_not_a_hang(redis_url):
    # A server that takes commands and never answers holds the first round trip; the sender is then
    # killed (as at a worker's shutdown): its caller and those queued behind it must all be answered.
    out = run_patched(BATCHER_SETUP + """
    from gevent.server import StreamServer

    def swallow(connection, address):
        while connection.recv(65536):
            pass

    silent = StreamServer(("127.0.0.1", 0), swallow)
    silent.start()
    batcher = ScriptBatcher(redis.Redis(host="127.0.0.1", port=silent.server_port), "return 1", "t")
    def call():
        try:
            batcher(["counter"], [])
            return "answered"
        except redis.exceptions.ConnectionError as error:
            return str(error)
    calls = [gevent.spawn(call)]
    gevent.sleep(0.2)  # its round trip is in flight (and never answered) ...
    calls += [gevent.spawn(call) for _ in range(2)]
    gevent.sleep(0.2)  # ... and these two wait for the next one
    assert len(batcher.pending) == 2
    batcher.sender.kill()
    gevent.joinall(calls, timeout=5)
    print(json.dumps([g.value for g in calls]))
    """, redis_url)
    assert len(out) == 3 and all("sender of this process stopped (GreenletExit)" in str(a) for a in out), out


def test_every_waiting_caller_gets_the_error_when_redis_is_unreachable(redis_url):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    out = run_patched(BATCHER_SETUP + """
    batcher = ScriptBatcher(client, SCRIPT, "t")
    def call(n):
        try:
            batcher(["counter"], [n])
            return "answered"
        except redis.exceptions.ConnectionError:
            return "connection error"
    calls = [gevent.spawn(call, n) for n in range(20)]
    gevent.joinall(calls)
    print(json.dumps([g.value for g in calls]))
    """, closed)
    assert out == ["connection error"] * 20


@pytest.fixture
def web_server(app, config, tmp_path):
    """The Procfile's web command, on the test database and Redis, with one gevent worker process."""
    with open(os.path.join(ROOT, "Procfile")) as procfile:
        command = next(line.split(":", 1)[1].strip() for line in procfile if line.startswith("web:"))
    port = free_port()
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""), PORT=str(port),
               DATABASE_URL=config.database_url, REDIS_URL=config.redis_url, HOOKYARD_VAR_DIR=str(tmp_path),
               HOOKYARD_REDIS_PREFIX=config.redis_prefix, HOOKYARD_ENCRYPTION_KEY=config.encryption_key,
               WEB_CONCURRENCY="1")
    log = tmp_path / "web.log"
    with open(log, "w") as output:
        server = subprocess.Popen(command, shell=True, cwd=ROOT, env=env, start_new_session=True,
                                  stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/healthz")
    except AssertionError:
        os.killpg(server.pid, signal.SIGKILL)
        raise AssertionError(log.read_text()) from None
    yield base
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def batch_samples(base: str, script: str) -> dict:
    """Return the group-commit histogram's `_count` (round trips) and `_sum` (calls) for a script."""
    with urllib.request.urlopen(f"{base}/metrics") as response:
        text = response.read().decode()
    return {line.split("{")[0].rsplit("_", 1)[1]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith(("hookyard_redis_batch_calls_count", "hookyard_redis_batch_calls_sum"))
            and f'script="{script}"' in line}


def test_signals_sent_at_once_to_the_server_are_each_accepted_and_stored_once(client, org, make_api_key, run_jobs,
                                                                             web_server):
    key = make_api_key()["key"]
    url = f"{web_server}/api/signal-staging/webhook/{key}"
    signals = [{"email": f"user{n % 7}@example.com", "event": "Signup", "properties": {"n": n}} for n in range(400)]
    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(lambda signal: http_json(url, signal), signals))

    assert {status for status, _ in answers} == {202}
    ids = [body["id"] for _, body in answers]
    assert len(set(ids)) == 400
    assert all(body["message"] == "Signal received and queued for processing" for _, body in answers)
    # Bad input still gets its own answer from the server.
    assert http_json(url, ["not", "an", "object"])[0] == 400

    run_jobs()
    stored = client.get("/v1/signals?limit=500", headers=org["headers"]).get_json()
    assert sorted(signal["id"] for signal in stored["signals"]) == sorted(ids)
    assert client.get("/v1/usage", headers=org["headers"]).get_json()["raw_signals"] == 400

    # The requests really shared round trips: fewer Redis round trips than accept calls.
    samples = batch_samples(web_server, "signal_accept")
    assert samples["sum"] >= 400 and samples["count"] < samples["sum"], samples


def test_flow_events_sent_at_once_are_deduped_rate_limited_and_logged_once(app, client, org, make_api_key, run_jobs,
                                                                         web_server):
    flow_key = make_api_key(endpoint_type="flow")["key"]
    flow = client.post("/v1/flows", json={"name": "CI", "rate_limit_per_second": 10_000},
                       headers=org["headers"]).get_json()
    url = f"{web_server}/webhooks/{flow['webhook_id']}"
    # 300 requests carrying 200 Idempotency-Keys: a key's copies race each other, often in one round trip.
    sends = [(n, {"X-API-Key": flow_key, "Idempotency-Key": f"k-{n % 200}"}) for n in range(300)]
    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(lambda send: http_json(url, {"event": "tick", "n": send[0]}, send[1]), sends))
    assert {status for status, _ in answers} == {200}
    statuses = [body["status"] for _, body in answers]
    assert statuses.count("queued") == 200 and statuses.count("duplicate") == 100
    run_jobs()
    logged = client.get(f"/v1/flows/{flow['id']}/events?limit=500", headers=org["headers"]).get_json()["events"]
    assert len(logged) == 300 and sum(event["duplicate"] for event in logged) == 100
    samples = batch_samples(web_server, "flow_accept")
    assert samples["sum"] == 300 and samples["count"] < 300, samples

    limited = client.post("/v1/flows", json={"name": "slow", "rate_limit_per_second": 5},
                          headers=org["headers"]).get_json()
    started = time.time()
    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(lambda n: http_json(f"{web_server}/webhooks/{limited['webhook_id']}",
                                                    {"event": "tick", "n": n}, {"X-API-Key": flow_key}), range(40)))
    seconds = int(time.time()) - int(started) + 1
    accepted = sum(status == 200 for status, _ in answers)
    assert 1 <= accepted <= 5 * seconds
    assert {status for status, _ in answers} == {200, 429}


def wait_until_the_insert_waits(database_url: str) -> None:
    """Return once the web process's INSERT is waiting for the lock (Postgres shows it; SQLite cannot)."""
    if database_url.startswith("sqlite"):
        time.sleep(0.5)  # a request on 127.0.0.1 reaches its INSERT in milliseconds
        return
    import psycopg2

    observer = psycopg2.connect(database_url)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with observer.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if cursor.fetchone()[0]:
                    return
            observer.rollback()
            time.sleep(0.05)
        raise AssertionError("the INSERT never waited for the lock")
    finally:
        observer.close()


def test_a_request_waiting_for_a_database_lock_holds_up_no_other_request(client, org, make_api_key, config,
                                                                          web_server):
    key = make_api_key()["key"]
    url = f"{web_server}/api/signal-staging/webhook/{key}"
    assert http_json(url, {"email": "ann@x.io"})[0] == 202  # reserves this process's block of signal ids

    # Another process holds the database's write lock (as the worker does while it stores a chunk).
    if config.database_url.startswith("sqlite"):
        import sqlite3

        holder = sqlite3.connect(config.database_url.split(":///", 1)[1], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        import psycopg2

        holder = psycopg2.connect(config.database_url)
        holder.cursor().execute("LOCK TABLE api_key IN EXCLUSIVE MODE")
    try:
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(http_json, f"{web_server}/v1/api-keys", {"name": "late", "endpoint_type": "flow"},
                                  org["headers"])
            wait_until_the_insert_waits(config.database_url)
            took = []
            for n in range(3):
                started = time.monotonic()
                assert http_json(url, {"email": "ann@x.io", "n": n})[0] == 202
                took.append(time.monotonic() - started)
            assert not waiting.done()
            assert max(took) < 1.0, took  # answered while the other request still waits
            holder.rollback()  # releases the lock
            status, body = waiting.result(timeout=10)
        assert status == 201 and body["name"] == "late"
    finally:
        holder.close()


def test_a_large_import_does_not_hold_up_the_processs_other_requests(client, org, make_api_key, web_server):
    key = make_api_key()["key"]
    url = f"{web_server}/api/signal-staging/webhook/{key}"
    assert http_json(url, {"email": "ann@x.io"})[0] == 202
    body = "\n".join(json.dumps({"email": f"u{n % 100}@x.io", "event": "Imported", "n": n}) for n in range(50_000))

    def bulk():
        request = urllib.request.Request(f"{web_server}/api/signal-staging/bulk/{key}", data=body.encode(),
                                         headers={"Content-Type": "application/x-ndjson"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, time.monotonic()

    with ThreadPoolExecutor(1) as pool:
        importing = pool.submit(bulk)
        time.sleep(0.3)  # the import is being validated (about a second of CPU) in the one web process
        took = []
        while not importing.done():
            started = time.monotonic()
            assert http_json(url, {"email": "bob@x.io"})[0] == 202
            took.append(time.monotonic() - started)
        status, _ = importing.result()
    assert status == 202
    assert len(took) >= 3, took  # single signals were answered while the import was still in hand
    assert max(took) < 0.5, took
