"""Fixtures: real Redis, real SQLite and Postgres (when TEST_POSTGRES_URL is set), a real RQ worker.

Every test that takes `app` runs once per database backend. Tests get a Redis database number of
their own, flushed before and after, and tables emptied after each test, so they pass in any order.
"""

import json
import os
import signal
import time
import urllib.error
import urllib.request
import uuid

import peewee
import pytest
import redis as redis_lib
from playhouse.db_url import connect

from hookyard.core.config import Config
from hookyard.core.credentials import generate_key
from hookyard.core.db import migrate
from hookyard.devserver.embedded_redis import EmbeddedRedis

TEST_REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "13"))


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory):
    """The Redis under test: REDIS_URL when set, else one started on a private port for this run."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url.rsplit("/", 1)[0] if url.count("/") > 2 else url
        return
    with EmbeddedRedis(str(tmp_path_factory.mktemp("redis")), persistent=False) as server:
        yield f"redis://127.0.0.1:{server.port}"


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh Postgres database for this run, dropped at the end; skips when TEST_POSTGRES_URL is unset."""
    admin_url = os.environ.get("TEST_POSTGRES_URL")
    if not admin_url:
        pytest.skip("TEST_POSTGRES_URL is not set")
    name = f"hookyard_test_{uuid.uuid4().hex[:10]}"
    admin = connect(admin_url)
    admin.connect()
    admin.connection().autocommit = True
    admin.execute_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'hookyard.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request):
    """Each test that needs a database runs on SQLite and on Postgres."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def redis_url(redis_server_url):
    return f"{redis_server_url}/{TEST_REDIS_DB}"


@pytest.fixture
def redis(redis_url):
    """A client on the test Redis database, flushed before and after the test."""
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


ENCRYPTION_KEY = generate_key()


@pytest.fixture
def config(database_url, redis_url):
    return Config.from_env({}, database_url=database_url, redis_url=redis_url, retry_schedule=(1, 1, 1, 1),
                           delivery_timeout=2.0, webhook_allow_private_networks=True,
                           encryption_key=ENCRYPTION_KEY)


@pytest.fixture
def app(config, redis):
    """The Flask app on migrated tables, emptied again after the test."""
    from app import create_app

    application = create_app(config)
    migrate(application.database)
    yield application
    empty_tables(application.database)
    close_database(application.database)


def empty_tables(database) -> None:
    """Delete every row the test left, keeping the migrated schema."""
    # The id block keeps counting across tests: ids are never reused, as in production.
    tables = [t for t in database.get_tables() if t not in ("schema_migration", "id_block")]
    if isinstance(database, peewee.PostgresqlDatabase):
        database.execute_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    else:
        with database.atomic():
            database.execute_sql("PRAGMA defer_foreign_keys = ON")
            for table in tables:
                database.execute_sql(f'DELETE FROM "{table}"')
    close_database(database)


def close_database(database) -> None:
    if hasattr(database, "close_all"):
        database.close_all()
    elif not database.is_closed():
        database.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def run_jobs(app, config):
    """Run every queued job (and those they enqueue) through a real RQ worker, then return."""
    from worker import make_worker

    def run():
        worker = make_worker(config, connection=app.redis)
        worker.work(burst=True)
        return worker

    return run


@pytest.fixture
def store_together(app, config):
    """Store each buffer item as its own claim, all in threads released at the same moment, as workers
    on several machines would; fail the test if any of them raised."""
    import threading

    from hookyard.signals.buffer import SignalKeys
    from worker import make_worker, store_claim

    make_worker(config, connection=app.redis)
    keys = SignalKeys(config.redis_prefix)

    def run(items: list[bytes]) -> None:
        barrier, errors = threading.Barrier(len(items)), []

        def store(item):
            try:
                barrier.wait()
                store_claim(app.redis, keys, [item])
            except Exception as error:  # surfaced below
                errors.append(error)
            finally:
                app.database.close()

        threads = [threading.Thread(target=store, args=(item,)) for item in items]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []

    run.keys = keys
    return run


@pytest.fixture
def org(app):
    """An organization created by the CLI, as a user would; its management key and auth headers."""
    result = app.test_cli_runner().invoke(args=["create-org", "Acme"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    return {"id": created["organization_id"], "key": created["management_key"],
            "headers": {"Authorization": f"Bearer {created['management_key']}"}}


@pytest.fixture
def other_org(app):
    result = app.test_cli_runner().invoke(args=["create-org", "Globex"])
    created = json.loads(result.output)
    return {"id": created["organization_id"], "headers": {"Authorization": f"Bearer {created['management_key']}"}}


PAYLOADS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "payloads")


def payload(name: str):
    """Return a real-world payload from tests/payloads (see its README for provenance)."""
    with open(os.path.join(PAYLOADS, name), "rb") as source:
        return json.loads(source.read())


def payload_bytes(name: str) -> bytes:
    with open(os.path.join(PAYLOADS, name), "rb") as source:
        return source.read()


def wait_for(url: str, timeout: float = 30.0):
    """Return (status, JSON) of the first answer a starting server gives at `url`; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status, json.loads(response.read())
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def http_json(url: str, body=None, headers=None, timeout: float = 30):
    """Send `body` as JSON to a real server (GET without one); return (status, JSON), error answers too."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def make_api_key(client, org):
    """Create an API key through the API and return its answer (with `key` and `secret`)."""

    def make(endpoint_type="signal_staging", headers=None, **body):
        response = client.post("/v1/api-keys", json={"name": "test", "endpoint_type": endpoint_type, **body},
                               headers=headers or org["headers"])
        assert response.status_code == 201, response.data
        return response.get_json()

    return make


@pytest.fixture
def signal_key(make_api_key):
    return make_api_key()["key"]


class Receiver:
    """A real HTTP server on 127.0.0.1 that records what it receives and answers from a script."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests = []
        self.lock = threading.Lock()
        self.answer = lambda request: (200, b'{"ok": true}', 0.0, {})
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                import time as clock

                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = {"path": self.path, "headers": dict(self.headers), "body": body, "at": clock.time()}
                with receiver.lock:
                    receiver.requests.append(request)
                status, payload, delay, headers = receiver.answer(request)
                if delay:
                    clock.sleep(delay)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # the default backlog of 5 drops connects beyond it: a 1 s SYN retry

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def received(self, path=None) -> list:
        with self.lock:
            return [r for r in self.requests if path is None or r["path"] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def worker_process(config, tmp_path):
    """Start `python worker.py` (with RQ's scheduler) on the test database and Redis; stop it after."""
    import subprocess
    import sys

    processes = []
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def start(**env):
        settings = {**os.environ, "DATABASE_URL": config.database_url, "REDIS_URL": config.redis_url,
                    "HOOKYARD_ENCRYPTION_KEY": config.encryption_key, "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
                    "RETRY_SCHEDULE": ",".join(map(str, config.retry_schedule)),
                    "DELIVERY_TIMEOUT": str(config.delivery_timeout), **env}
        log = open(tmp_path / f"worker-{len(processes)}.log", "w")
        process = subprocess.Popen([sys.executable, "worker.py"], cwd=root, env=settings, stdout=log, stderr=log,
                                   start_new_session=True)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # with the scheduler RQ forked
                process.wait()
