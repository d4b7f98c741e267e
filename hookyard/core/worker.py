"""The RQ worker class: jobs in-process, fresh heartbeats, outcomes counted, a clean stop, maintenance sweeps.

A failing job never kills the worker: RQ catches the exception, `log_job_failure` logs it with the
job id, the outcome is counted, and the job lands in the failed registry. Capabilities hand in their
maintenance sweeps; this module knows none of them.
"""

import ctypes
import functools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence

import redis
from rq import SimpleWorker
from rq.exceptions import StopRequested

from hookyard.core import metrics
from hookyard.core.config import Config
from hookyard.core.db import db
from hookyard.core.jobs import SHUTDOWN, JobContext, activated
from hookyard.core.queues import QUEUE_NAMES, connect_redis, make_queues

logger = logging.getLogger("hookyard.worker")

Sweep = Callable[[JobContext], None]
PR_SET_PDEATHSIG = 1  # prctl option: the signal a process gets when its parent dies
# Seconds the worker processes get to finish the job in hand after SIGTERM: within the 30 s a platform
# (Heroku, Kubernetes' default) waits before its SIGKILL, past any DELIVERY_TIMEOUT-bounded send.
STOP_GRACE = 25


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
            metrics.JOBS.add(self.connection, self.context.prefix, queue.name, outcome)
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


@functools.cache
def _make_forks_die_with_this_process() -> None:
    """Have every process forked from now on get SIGKILL when this one dies (Linux; elsewhere nothing)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    os.register_at_fork(after_in_child=lambda: prctl(PR_SET_PDEATHSIG, signal.SIGKILL))


def log_job_failure(job, exc_type, exc_value, _traceback) -> bool:
    """Log one line for a failed job; return True so RQ records it in the failed registry too."""
    logger.error("job %s (%s) failed: %s: %s", job.id, job.func_name, exc_type.__name__, exc_value)
    return True


def make_worker(
    config: Config, connection=None, sweeps: Sequence[Sweep] = (), queue_names=QUEUE_NAMES, **options
) -> HookyardWorker:
    """Return a worker serving `queue_names` (all by default) on the configuration's Redis, running `sweeps`
    in maintenance."""
    connection = connection or connect_redis(config.redis_url)
    queues = make_queues(connection)
    # Registries are swept this often: the sweep is what re-queues jobs whose worker died. An idle
    # worker blocks on the queues for worker_ttl - 15 s, so that must not outlast the interval.
    worker = HookyardWorker(
        [queues[name] for name in queue_names],
        connection=connection,
        exception_handlers=[log_job_failure],
        maintenance_interval=config.worker_maintenance_interval,
        worker_ttl=config.worker_maintenance_interval + 15,
        **options,
    )
    worker.context = JobContext(config, connection)
    worker.sweeps = tuple(sweeps)
    return worker


def run_worker(config: Config, sweeps: Sequence[Sweep] = (), connection=None, queue_names=QUEUE_NAMES) -> None:
    """Serve the queues until SIGTERM or SIGINT, outliving Redis outages.

    RQ's work loop ends for good on most Redis errors (only its blocking dequeue retries), which left the
    process dead after Redis came back. Here the loop is started again: at once if Redis answers, else once
    it does, waiting with backoff and saying so once.
    """
    connection = connection or connect_redis(config.redis_url)
    restarts = 0
    while not SHUTDOWN.is_set():
        started = time.monotonic()
        worker = make_worker(config, connection, sweeps, queue_names)
        try:
            worker.work(with_scheduler=True)
        except StopRequested:
            return
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            logger.warning("the worker lost Redis while stopping: %s", error)
        if SHUTDOWN.is_set() or worker._stop_requested:
            return
        # A loop that keeps dying at once waits longer each time: a bug must not become a busy loop.
        restarts = restarts + 1 if time.monotonic() - started < 10 else 0
        _wait_for_redis(connection, first_delay=min(30, 2**restarts) if restarts else 0)
        logger.warning("restarting the worker after its loop ended (see the error above)")


def _wait_for_redis(connection, first_delay: float = 0, longest: float = 30) -> None:
    """Return once Redis answers PING (or a stop was requested), retrying with backoff and logging once."""
    delay, said = first_delay, False
    while True:
        try:
            # A SIGTERM now runs the last worker's handler, which sets SHUTDOWN (and may raise).
            if SHUTDOWN.wait(delay):
                return
            connection.ping()
            if said:
                logger.warning("Redis answers again")
            return
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, StopRequested) as error:
            if SHUTDOWN.is_set():
                return
            if not said:
                logger.error("Redis is unreachable (%s); waiting for it, retrying up to every %ds", error, longest)
                said = True
        delay = min(longest, max(1, delay * 2))


def serve(config: Config, sweeps: Sequence[Sweep] = ()) -> None:
    """Serve every queue from a worker process of its own until SIGTERM or SIGINT; start again one that dies.

    One process per queue, for two reasons. RQ takes a job from a single queue with BLMOVE into that
    queue's intermediate list, which its maintenance recovers if the worker dies holding it; from several
    queues it uses BLPOP, and a job popped by a worker dying at that instant is gone. And deliveries, which
    wait on other people's servers, never hold up storing what was accepted.
    """
    # No worker process, nor the scheduler each forks (the hook is inherited), outlives this one: killed
    # alone (SIGKILL, the OOM killer), it takes them with it, and a new worker.py starts clean.
    _make_forks_die_with_this_process()
    context = multiprocessing.get_context("fork")
    stopping = []

    def start(name: str):
        process = context.Process(target=_serve_queue, args=(config, sweeps, name), name=f"worker-{name}")
        process.start()
        return process

    def stop(signum, _frame):
        stopping.append(time.monotonic())
        for process in workers.values():
            if process.is_alive():
                os.kill(process.pid, signum)

    workers = {name: start(name) for name in QUEUE_NAMES}
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    delays = dict.fromkeys(QUEUE_NAMES, 1)
    while any(process.is_alive() for process in workers.values()) or not stopping:
        time.sleep(0.2)
        if stopping and time.monotonic() - stopping[0] > STOP_GRACE:
            for name, process in workers.items():
                if process.is_alive():
                    logger.error("the %s worker did not stop within %ds; killing it", name, STOP_GRACE)
                    process.kill()
            return
        for name, process in list(workers.items()):
            if not stopping and not process.is_alive():
                logger.error("!!! the %s worker exited with %s; starting it again in %ds", name, process.exitcode,
                             delays[name])  # fmt: skip
                time.sleep(delays[name])
                delays[name] = min(30, delays[name] * 2)
                workers[name] = start(name)


def _serve_queue(config: Config, sweeps: Sequence[Sweep], name: str) -> None:
    """Run one queue's worker in a process of its own (the target of `serve`)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    run_worker(config, sweeps, queue_names=(name,))
