"""Fixtures: real Redis, real SQLite and Postgres (when TEST_POSTGRES_URL is set), a real RQ worker.

Every test that takes `app` runs once per database backend. Tests get a Redis database number of
their own, flushed before and after, and tables emptied after each test, so they pass in any order.
"""

import json
import os
import threading
import urllib.parse
import uuid

import pytest
import redis as redis_lib
from playhouse.db_url import connect
from werkzeug.serving import make_server

from hookyard.core.config import Config
from hookyard.core.credentials import generate_key
from hookyard.core.db import close_database, migrate
from hookyard.devserver.embedded_redis import EmbeddedRedis
from tests.helpers import Receiver, empty_tables
from tests.processes import start_web, start_worker, stop_group

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
    return Config.from_env(
        {},
        database_url=database_url,
        redis_url=redis_url,
        retry_schedule=(1, 1, 1, 1),
        delivery_timeout=2.0,
        webhook_allow_private_networks=True,
        encryption_key=ENCRYPTION_KEY,
    )


@pytest.fixture
def app(config, redis):
    """The Flask app on migrated tables, emptied again after the test."""
    from app import create_app

    application = create_app(config)
    migrate(application.database)
    yield application
    empty_tables(application.database)
    close_database(application.database)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def strict_client(config, redis):
    """An app that refuses private networks, as production does."""
    from app import create_app

    return create_app(Config(**{**config.__dict__, "webhook_allow_private_networks": False})).test_client()


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
def job_context(app, config):
    """The context a worker gives its jobs, for calling a job's pieces directly."""
    from hookyard.core.jobs import JobContext

    return JobContext(config, app.redis)


@pytest.fixture
def store_together(app, job_context):
    """Store each buffer item as its own claim, all in threads released at the same moment, as workers
    on several machines would; fail the test if any of them raised."""
    from hookyard.signals.jobs import store_claim
    from hookyard.signals.keys import SignalKeys

    def run(items: list[bytes]) -> None:
        barrier, errors = threading.Barrier(len(items)), []

        def store(item):
            try:
                barrier.wait()
                store_claim(job_context, [item])
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

    run.keys = SignalKeys(job_context.prefix)
    return run


@pytest.fixture
def org(app):
    """An organization created by the CLI, as a user would; its management key and auth headers."""
    result = app.test_cli_runner().invoke(args=["create-org", "Acme"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    return {
        "id": created["organization_id"],
        "key": created["management_key"],
        "headers": {"Authorization": f"Bearer {created['management_key']}"},
    }


@pytest.fixture
def other_org(app):
    result = app.test_cli_runner().invoke(args=["create-org", "Globex"])
    created = json.loads(result.output)
    return {"id": created["organization_id"], "headers": {"Authorization": f"Bearer {created['management_key']}"}}


@pytest.fixture
def make_api_key(client, org):
    """Create an API key through the API and return its answer (with `key` and `secret`)."""

    def make(endpoint_type="signal_staging", headers=None, **body):
        response = client.post(
            "/v1/api-keys",
            json={"name": "test", "endpoint_type": endpoint_type, **body},
            headers=headers or org["headers"],
        )
        assert response.status_code == 201, response.data
        return response.get_json()

    return make


@pytest.fixture
def signal_key(make_api_key):
    return make_api_key()["key"]


@pytest.fixture
def flow_key(make_api_key):
    return make_api_key(endpoint_type="flow")["key"]


@pytest.fixture
def make_flow(client, org):
    """Create a flow through the API (as `org`, or with `headers`) and return its answer."""

    def make(headers=None, **body):
        response = client.post("/v1/flows", json={"name": "CI", **body}, headers=headers or org["headers"])
        assert response.status_code == 201, response.data
        return response.get_json()

    return make


@pytest.fixture
def project(client, org):
    """A project with two members and a custom webhook created by the first; its URL and path."""
    for email, name in (("agent@example.com", "Alex Agent"), ("owner@example.com", "Olive Owner")):
        response = client.post("/v1/members", json={"email": email, "name": name}, headers=org["headers"])
        assert response.status_code == 201, response.data
    created = client.post("/v1/projects", json={"name": "Support"}, headers=org["headers"]).get_json()
    hook = client.post(
        f"/v1/projects/{created['id']}/webhooks",
        json={"name": "Call center", "created_by": "owner@example.com"},
        headers=org["headers"],
    )
    assert hook.status_code == 201, hook.data
    webhook = hook.get_json()
    return {**created, "webhook": webhook, "path": urllib.parse.urlsplit(webhook["url"]).path}


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def web_server(app, config, tmp_path):
    """The Procfile's web command, on the test database and Redis, with one gevent worker process."""
    base, server = start_web(config, tmp_path)
    yield base
    stop_group(server)


@pytest.fixture
def worker_process(config, tmp_path):
    """Start `python worker.py` (with RQ's scheduler) on the test database and Redis; stop it after."""
    processes = []

    def start(**env):
        process = start_worker(config, tmp_path / f"worker-{len(processes)}.log", **env)
        processes.append(process)
        return process

    yield start
    for process in processes:
        stop_group(process)  # 30 s: past the supervisor's own STOP_GRACE


@pytest.fixture
def live_server(app):
    """The app on a real HTTP socket (werkzeug's threaded server, in-process), for real client libraries."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
