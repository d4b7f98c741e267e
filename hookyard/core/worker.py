"""The RQ worker class: jobs in-process, fresh heartbeats, outcomes counted, a clean stop, maintenance sweeps.

A failing job never kills the worker: RQ catches the exception, `log_job_failure` logs it with the
job id, the outcome is counted, and the job lands in the failed registry. Capabilities hand in their
maintenance sweeps; this module knows none of them.
"""

import logging
import threading
from collections.abc import Callable, Sequence

from rq import SimpleWorker

from hookyard.core import metrics
from hookyard.core.config import Config
from hookyard.core.db import db
from hookyard.core.jobs import SHUTDOWN, JobContext, activated
from hookyard.core.queues import connect_redis, make_queues

logger = logging.getLogger("hookyard.worker")

Sweep = Callable[[JobContext], None]


class HookyardWorker(SimpleWorker):
    """An RQ worker that runs jobs in-process (no fork per job) inside its JobContext.

    A thread keeps the running job's heartbeat fresh on a short TTL, so when this process is
    killed the job is seen as abandoned, and re-queued by RQ's registry sweep, within a minute.
    """

    context: JobContext
    sweeps: Sequence[Sweep] = ()

    def request_stop(self, signum, frame):
        SHUTDOWN.set()
        super().request_stop(signum, frame)

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        return self.context.config.worker_heartbeat_ttl

    def perform_job(self, job, queue, execution) -> bool:
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, execution, stop), daemon=True)
        beat.start()
        try:
            with activated(self.context):
                succeeded = super().perform_job(job, queue, execution)
        finally:
            stop.set()
            beat.join()
            # Jobs open the connection lazily; give it back so a restarted database is picked up.
            if not db.is_closed():
                db.close()
        outcome = "success" if succeeded else "failure"
        try:
            metrics.record_outcome(self.connection, self.context.prefix, "job", f"{queue.name}:{outcome}")
        except Exception:  # counting must never turn a finished job into a worker crash
            logger.warning("could not count outcome of job %s", job.id)
        return succeeded

    def run_maintenance_tasks(self):
        """RQ's registry sweep, then ours: nothing accepted may wait on a job that is gone."""
        super().run_maintenance_tasks()
        for sweep in self.sweeps:
            try:
                sweep(self.context)
            except Exception:
                logger.exception("%s failed; it runs again at the next maintenance", sweep.__name__)

    def _beat(self, job, execution, stop: threading.Event) -> None:
        while not stop.wait(self.context.config.worker_heartbeat_ttl / 4):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception:  # a missed beat is retried; it must not kill the job
                logger.warning("heartbeat for job %s failed", job.id)


def log_job_failure(job, exc_type, exc_value, _traceback) -> bool:
    """Log one line for a failed job; return True so RQ records it in the failed registry too."""
    logger.error("job %s (%s) failed: %s: %s", job.id, job.func_name, exc_type.__name__, exc_value)
    return True


def make_worker(config: Config, connection=None, sweeps: Sequence[Sweep] = (), **options) -> HookyardWorker:
    """Return a worker serving every Hookyard queue on the configuration's Redis, running `sweeps` in maintenance."""
    connection = connection or connect_redis(config.redis_url)
    # Registries are swept this often: the sweep is what re-queues jobs whose worker died. An idle
    # worker blocks on the queues for worker_ttl - 15 s, so that must not outlast the interval.
    worker = HookyardWorker(
        list(make_queues(connection).values()),
        connection=connection,
        exception_handlers=[log_job_failure],
        maintenance_interval=config.worker_maintenance_interval,
        worker_ttl=config.worker_maintenance_interval + 15,
        **options,
    )
    worker.context = JobContext(config, connection)
    worker.sweeps = tuple(sweeps)
    return worker
