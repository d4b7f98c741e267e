"""The worker process: `python worker.py` serves every Hookyard queue with RQ's scheduler until SIGTERM.

The jobs live with their capability (`hookyard/<capability>/jobs.py`) and are queued by function;
the worker class lives in `hookyard/core/worker.py`. This file wires them: configuration, database,
the maintenance sweeps of each buffer and of the deliveries.
"""

import logging

from hookyard.activities import jobs as activity_jobs
from hookyard.core import credentials
from hookyard.core import worker as core_worker
from hookyard.core.config import LOCAL_KEY_FILE, Config
from hookyard.core.db import bind_database
from hookyard.core.queues import QUEUE_NAMES
from hookyard.flows import jobs as flow_jobs
from hookyard.mapping import jobs as mapping_jobs
from hookyard.ops import dead_letters, purge
from hookyard.outbound import jobs as outbound_jobs
from hookyard.signals import jobs as signal_jobs

logger = logging.getLogger("hookyard.worker")

# Run at every maintenance (WORKER_MAINTENANCE_INTERVAL): nothing accepted may wait on a job that is gone.
SWEEPS = (
    signal_jobs.sweep_signals,
    flow_jobs.sweep_flows,
    outbound_jobs.sweep_deliveries,
    dead_letters.sweep_dead_letters,
    purge.sweep_retention,
)

# Jobs queued by Hookyard 0.1 name their function as `worker.<name>`; RQ imports this module to run them
# after an upgrade. Keep these aliases until no such job can be left in a queue or a schedule.
drain_signals = signal_jobs.drain_signals
import_signals = signal_jobs.import_signals
apply_mapping_rule = mapping_jobs.apply_mapping_rule
store_activity = activity_jobs.store_activity
drain_flow_events = flow_jobs.drain_flow_events
dispatch_deliveries = outbound_jobs.dispatch_deliveries
publish_event = outbound_jobs.publish_api_event
redeliver = outbound_jobs.redeliver


def make_worker(config: Config, connection=None, **options) -> core_worker.HookyardWorker:
    """Return a worker serving every Hookyard queue, with every capability's maintenance sweep."""
    return core_worker.make_worker(config, connection, sweeps=SWEEPS, **options)


def main() -> None:
    """Run the worker until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = credentials.ready_to_start(Config.from_env(), LOCAL_KEY_FILE)
    if not config.redis_url:
        raise SystemExit("REDIS_URL is not set: `make run` starts a Redis and sets it; otherwise point it at yours")
    bind_database(config.database_url)
    logger.info("serving queues %s", ", ".join(QUEUE_NAMES))
    core_worker.serve(config, SWEEPS)


if __name__ == "__main__":
    main()
