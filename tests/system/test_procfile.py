"""The Procfile as a Procfile runner starts it (honcho): release, then web and worker; none without a key."""

import os
import signal
import subprocess

import pytest

from hookyard.devserver.embedded_redis import free_port
from tests.helpers import ROOT, SIGNAL_WEBHOOK, VENV_BIN, http_json, wait_for, wait_until

HONCHO = os.path.join(VENV_BIN, "honcho")


def procfile_env(config, directory, **changes) -> dict:
    env = {
        **os.environ,
        "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
        "DATABASE_URL": config.database_url,
        "REDIS_URL": config.redis_url,
        "HOOKYARD_REDIS_PREFIX": config.redis_prefix,
        "HOOKYARD_ENCRYPTION_KEY": config.encryption_key,
        "HOOKYARD_VAR_DIR": str(directory),  # no var/encryption.key from a `make run` of this checkout
        "WEB_CONCURRENCY": "1",
        **changes,
    }
    return {name: value for name, value in env.items() if value is not None}


@pytest.mark.slow
@pytest.mark.parametrize("process", ["release", "web", "worker"])
def test_no_process_starts_without_an_encryption_key(config, tmp_path, process):
    env = procfile_env(config, tmp_path, HOOKYARD_ENCRYPTION_KEY=None, PORT=str(free_port()))
    ran = subprocess.run(
        [HONCHO, "start", "-f", "Procfile", process], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode != 0
    assert "HOOKYARD_ENCRYPTION_KEY is not set: generate one with" in ran.stdout, ran.stdout


@pytest.mark.slow
def test_honcho_runs_release_then_web_and_worker_which_store_a_signal(app, config, client, org, signal_key, tmp_path):
    env = procfile_env(config, tmp_path)
    release = subprocess.run(
        [HONCHO, "start", "-f", "Procfile", "release"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert release.returncode == 0, release.stdout
    port = free_port()
    log = open(tmp_path / "honcho.log", "w")
    honcho = subprocess.Popen(
        [HONCHO, "start", "-f", "Procfile", "web", "worker"],
        cwd=ROOT,
        env={**env, "PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/healthz")
        status, answer = http_json(f"{base}{SIGNAL_WEBHOOK}/{signal_key}", {"event": "Signed Up", "email": "a@x.io"})
        assert status == 202
        stored = f"/v1/signals/{answer['id']}"
        wait_until(lambda: client.get(stored, headers=org["headers"]).status_code == 200, timeout=30)
        honcho.send_signal(signal.SIGINT)  # Ctrl-C: honcho stops web and worker, then exits
        assert honcho.wait(timeout=40) in (0, 130, -signal.SIGINT)
    finally:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait()
    output = (tmp_path / "honcho.log").read_text()
    assert "web.1" in output
    assert "worker.1" in output
