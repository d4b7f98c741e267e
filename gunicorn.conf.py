"""gunicorn settings for the `web` process (Procfile), read from the environment like the rest."""

import os
import shutil

from hookyard.core import credentials
from hookyard.core.config import LOCAL_KEY_FILE, VAR_DIR, Config
from hookyard.ops import webserver

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Greenlets, not threads: a request waiting on Redis or Postgres costs a cheap switch instead of an OS
# thread's wake-up, and concurrent requests' Redis calls share round trips (script_batch.py).
worker_class = "gevent"
worker_connections = int(os.environ.get("WEB_CONNECTIONS", "1000"))
keepalive = 5
# Paths carry API keys and webhook tokens: every log line (and the access log, ACCESS_LOG=true) shows
# them redacted, and the requests gunicorn refuses itself are answered in the API's JSON.
accesslog = "-" if os.environ.get("ACCESS_LOG", "").lower() in ("1", "true", "yes") else None
logger_class = "hookyard.ops.webserver.RedactingLogger"
webserver.answer_errors_in_json()

# Request metrics from every gunicorn worker are summed through files in this directory.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(VAR_DIR, "prometheus", str(os.getpid())))


def on_starting(server):
    """Refuse to start without an encryption key; start each run with an empty metrics directory."""
    credentials.ready_to_start(Config.from_env(), LOCAL_KEY_FILE)
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """gevent has patched sockets by now; make Postgres queries cooperative too."""
    from hookyard.core import cooperative

    cooperative.patch_postgres_driver()
