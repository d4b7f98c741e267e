"""Real processes for tests: the Procfile's web command, `python worker.py`, a throwaway redis-server.

Each starts in a session of its own, so a test can signal the whole process group (gunicorn and its
workers, the worker and the RQ scheduler it forks) as a platform or the OOM killer would.
"""

import contextlib
import os
import signal
import subprocess
import sys

import redis as redis_lib

from hookyard.devserver.embedded_redis import find_redis_server, free_port
from tests.helpers import ROOT, VENV_BIN, wait_for, wait_until


def start_web(config, directory, **env) -> tuple[str, subprocess.Popen]:
    """Start the Procfile's web command (one gevent worker) on `config`; return its base URL and process."""
    with open(os.path.join(ROOT, "Procfile")) as procfile:
        command = next(line.split(":", 1)[1].strip() for line in procfile if line.startswith("web:"))
    port = free_port()
    settings = {
        **os.environ,
        "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
        "PORT": str(port),
        "DATABASE_URL": config.database_url,
        "REDIS_URL": config.redis_url,
        "HOOKYARD_VAR_DIR": str(directory),
        "HOOKYARD_REDIS_PREFIX": config.redis_prefix,
        "HOOKYARD_ENCRYPTION_KEY": config.encryption_key,
        "WEB_CONCURRENCY": "1",
        **env,
    }
    log = directory / "web.log"
    with open(log, "w") as output:
        server = subprocess.Popen(
            command, shell=True, cwd=ROOT, env=settings, start_new_session=True, stdout=output, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/healthz")
    except AssertionError:
        os.killpg(server.pid, signal.SIGKILL)
        raise AssertionError(log.read_text()) from None
    return base, server


def start_worker(config, log_path, **env) -> subprocess.Popen:
    """Start `python worker.py` (with RQ's scheduler) on `config`, logging to `log_path`."""
    settings = {
        **os.environ,
        "DATABASE_URL": config.database_url,
        "REDIS_URL": config.redis_url,
        "HOOKYARD_REDIS_PREFIX": config.redis_prefix,
        "HOOKYARD_ENCRYPTION_KEY": config.encryption_key,
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "RETRY_SCHEDULE": ",".join(map(str, config.retry_schedule)),
        "DELIVERY_TIMEOUT": str(config.delivery_timeout),
        **env,
    }
    log = open(log_path, "w")
    return subprocess.Popen(
        [sys.executable, "worker.py"], cwd=ROOT, env=settings, stdout=log, stderr=log, start_new_session=True
    )


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM a process group started for a test; SIGKILL what is left after `timeout` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start_redis(port: int, directory, persistent: bool = False) -> subprocess.Popen:
    """Start a redis-server on `port` and wait until it answers.

    Persistent, it keeps an append-only file in `directory` as the Redis `make run` starts does, so a
    restart on the same directory finds what was acknowledged before a SIGKILL.
    """
    persistence = ("yes", "everysec") if persistent else ("no", "no")
    command = [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(directory)]
    command += ["--appendonly", persistence[0], "--appendfsync", persistence[1]]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    client = redis_lib.Redis(port=port)
    wait_until(lambda: _answers(client), timeout=10, interval=0.05)
    return server


def _answers(client) -> bool:
    try:
        return client.ping()
    except redis_lib.exceptions.ConnectionError:
        return False
