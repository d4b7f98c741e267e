"""Group commit as gunicorn's gevent worker runs it: concurrent calls sharing one Redis round trip.

Each test runs its code in a gevent-patched Python of its own (a real process, as the web worker is),
so the cooperative path that production takes is the one tested.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from hookyard.devserver.embedded_redis import free_port
from tests.helpers import ROOT


def run_patched(code: str, redis_url: str) -> dict:
    """Run `code` in a gevent-patched Python (as gunicorn's worker is) and return the JSON it prints."""
    program = "from gevent import monkey\nmonkey.patch_all()\n" + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env=dict(os.environ, TEST_REDIS=redis_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
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


@pytest.mark.slow
def test_concurrent_calls_share_round_trips_and_each_gets_its_own_answer(redis, redis_url):
    out = run_patched(
        BATCHER_SETUP
        + """
    batcher = ScriptBatcher(client, SCRIPT, "t")
    calls = [gevent.spawn(batcher, ["counter"], [f"call-{n}"]) for n in range(300)]
    gevent.joinall(calls, raise_error=True)
    print(json.dumps({"answers": [[a.decode(), n] for a, n in (c.value for c in calls)],
                      "round_trips": round_trips("t")}))
    """,
        redis_url,
    )
    answers = out["answers"]
    # Each caller got the answer to its own call, and every call ran exactly once.
    assert [echo for echo, _ in answers] == [f"call-{n}" for n in range(300)]
    assert sorted(count for _, count in answers) == list(range(1, 301))
    assert int(redis.get("counter")) == 300
    trips, carried = out["round_trips"]
    assert carried == 300, out["round_trips"]
    assert trips < 10, out["round_trips"]


@pytest.mark.slow
def test_a_failing_call_fails_alone_and_lost_scripts_are_loaded_again(redis, redis_url):
    out = run_patched(
        BATCHER_SETUP
        + """
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
    """,
        redis_url,
    )
    assert out["first"] == [["ok", "a", 1], ["error", "refused b"], ["ok", "c", 2]]
    assert out["second"] == [["ok", "d", 3], ["ok", "e", 4]]


@pytest.mark.slow
def test_more_calls_than_one_round_trip_carries_are_sent_in_several(redis, redis_url):
    out = run_patched(
        BATCHER_SETUP
        + """
    from hookyard.core import script_batch
    batcher = ScriptBatcher(client, SCRIPT, "t")
    calls = [gevent.spawn(batcher, ["counter"], [n]) for n in range(2 * script_batch.MAX_BATCH + 100)]
    gevent.joinall(calls, raise_error=True)
    print(json.dumps({"answered": sorted(int(c.value[1]) for c in calls), "round_trips": round_trips("t"),
                      "max_batch": script_batch.MAX_BATCH}))
    """,
        redis_url,
    )
    total = 2 * out["max_batch"] + 100
    assert out["answered"] == list(range(1, total + 1))
    trips, carried = out["round_trips"]
    assert carried == total
    assert trips >= 3


# Three calls through a proxy that passes the first reply of the pipeline, then drops the connection.
CUT_AFTER_FIRST_REPLY = """
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
    """


@pytest.mark.slow
def test_a_connection_lost_mid_answer_keeps_the_answers_already_read(redis, redis_url):
    # A proxy in front of Redis passes the first reply, then drops the connection: the first call ran
    # and keeps its answer; the others get the error (they ran too: Redis had them; hence no retry).
    out = run_patched(BATCHER_SETUP + CUT_AFTER_FIRST_REPLY, redis_url)
    assert out == [["a", 1], "connection error", "connection error"]
    assert int(redis.get("counter")) == 3


@pytest.mark.slow
def test_callers_waiting_on_a_killed_sender_get_an_error_not_a_hang(redis_url):
    # A server that takes commands and never answers holds the first round trip; the sender is then
    # killed (as at a worker's shutdown): its caller and those queued behind it must all be answered.
    out = run_patched(
        BATCHER_SETUP
        + """
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
    """,
        redis_url,
    )
    assert len(out) == 3, out
    assert all("sender of this process stopped (GreenletExit)" in str(a) for a in out), out


@pytest.mark.slow
def test_every_waiting_caller_gets_the_error_when_redis_is_unreachable(redis_url):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    out = run_patched(
        BATCHER_SETUP
        + """
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
    """,
        closed,
    )
    assert out == ["connection error"] * 20
