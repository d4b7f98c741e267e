"""The worker process and its jobs: persist, dedupe, resolve identities, deliver, retry.

`python worker.py` runs an RQ worker with its scheduler on every Hookyard queue. It stops cleanly on
SIGTERM (RQ finishes the job in hand first), and a failing job never kills it: RQ catches the
exception, we log it with the job id and count it, and the job lands in the failed registry.
Jobs take ids or plain data, never ORM objects, and are safe to run twice.
"""

import logging

from rq import SimpleWorker

import metrics
from config import Config
from models import bind_database, db
from queues import QUEUE_NAMES, connect_redis, make_queues

logger = logging.getLogger("hookyard.worker")

# How often the worker sweeps RQ's registries: this is what re-queues jobs whose worker died
# (SIGKILL, OOM, lost machine). RQ's default of ten minutes is too slow for ingestion.
MAINTENANCE_INTERVAL = 30


class HookyardWorker(SimpleWorker):
    """An RQ worker that runs jobs in-process (no fork per job) and counts their outcomes in Redis."""

    prefix = "hy"

    def perform_job(self, job, queue, execution) -> bool:
        try:
            succeeded = super().perform_job(job, queue, execution)
        finally:
            # Jobs open the connection lazily; give it back so a restarted database is picked up.
            if not db.is_closed():
                db.close()
        outcome = "success" if succeeded else "failure"
        try:
            metrics.record_outcome(self.connection, self.prefix, "job", f"{queue.name}:{outcome}")
        except Exception:  # counting must never turn a finished job into a worker crash
            logger.warning("could not count outcome of job %s", job.id)
        return succeeded


def log_job_failure(job, exc_type, exc_value, _traceback) -> bool:
    """Log one line for a failed job; return True so RQ records it in the failed registry too."""
    logger.error("job %s (%s) failed: %s: %s", job.id, job.func_name, exc_type.__name__, exc_value)
    return True


def make_worker(config: Config, connection=None, **options) -> HookyardWorker:
    """Return a worker serving every Hookyard queue on `config`'s Redis."""
    connection = connection or connect_redis(config.redis_url)
    worker = HookyardWorker(list(make_queues(connection).values()), connection=connection,
                            exception_handlers=[log_job_failure],
                            maintenance_interval=MAINTENANCE_INTERVAL, **options)
    worker.prefix = config.redis_prefix
    return worker


def main() -> None:
    """Run the worker until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = Config.from_env()
    if not config.redis_url:
        raise SystemExit("REDIS_URL is not set: `make run` starts a Redis and sets it; otherwise point it at yours")
    bind_database(config.database_url)
    logger.info("serving queues %s", ", ".join(QUEUE_NAMES))
    make_worker(config).work(with_scheduler=True)


if __name__ == "__main__":
    main()
