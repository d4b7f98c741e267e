"""What /metrics reads when scraped, beyond the answering process's own counts: queue, buffer and
dead-letter lengths and the workers' shared counts from Redis (one round trip), and the age of the
oldest due delivery from the database (one indexed query)."""

from hookyard.core import metrics
from hookyard.core.buffer import BufferKeys
from hookyard.flows.keys import flow_buffer_keys
from hookyard.ops import dead_letters, purge
from hookyard.outbound import metrics as delivery_metrics
from hookyard.signals.keys import SignalKeys


def service_collector(redis, prefix: str, queues: dict) -> metrics.RedisCollector:
    """Return the collector of the service-wide metrics every web process exposes."""

    def dead_letter_depth():
        return dead_letters.depth_gauge(redis, prefix)

    buffers: dict[str, BufferKeys] = {"signals": SignalKeys(prefix), "flows": flow_buffer_keys(prefix)}
    return metrics.RedisCollector(
        redis,
        prefix,
        shared=(metrics.JOBS, delivery_metrics.ATTEMPTS, delivery_metrics.ATTEMPT_DURATION, purge.PURGED),
        lists=(
            metrics.ListLengths(
                "hookyard_queue_depth", "Jobs waiting in each queue.", "queue", {n: q.key for n, q in queues.items()}
            ),
            metrics.ListLengths(
                "hookyard_buffer_depth",
                "Accepted items waiting in each buffer for a drain job to claim them.",
                "buffer",
                {name: keys.buffer for name, keys in buffers.items()},
            ),
        ),
        probes=(delivery_metrics.oldest_due_delivery_age, dead_letter_depth),
    )
