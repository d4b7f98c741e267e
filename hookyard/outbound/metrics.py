"""Delivery metrics: attempts by outcome and their duration, counted in Redis as each round of attempts is
stored, and the age of the oldest due delivery, read from the database when /metrics is scraped.

A dispatcher stores finished attempts a round at a time (whatever ended since the last round, often
one); each round is counted with one pipelined round trip next to the round's own transaction, so the
counts follow the sends instead of waiting for the dispatch job to end. Counting never fails a dispatch.
"""

import collections
import logging

from prometheus_client.core import GaugeMetricFamily

from hookyard.core import metrics
from hookyard.core.clock import utcnow
from models import Delivery

logger = logging.getLogger(__name__)

ATTEMPTS = metrics.SharedCounter(
    "hookyard_delivery_attempts_total",
    "Delivery attempts, counted as each ends, by outcome: success, http_error, timeout, connection_error, refused.",
    ("outcome",),
)
ATTEMPT_DURATION = metrics.SharedHistogram(
    "hookyard_delivery_attempt_duration_seconds",
    "Time from sending a delivery to the end of its exchange (answer read, failed, or timed out).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def record_attempts(redis, prefix: str, attempts: list[tuple[str, float]]) -> None:
    """Count a round of stored attempts, each (outcome, seconds), in one Redis round trip; never raises."""
    try:
        with redis.pipeline(transaction=False) as pipe:
            for outcome, count in collections.Counter(outcome for outcome, _ in attempts).items():
                ATTEMPTS.add(pipe, prefix, outcome, amount=count)
            ATTEMPT_DURATION.observe(pipe, prefix, [seconds for _, seconds in attempts])
            pipe.execute()
    except Exception as error:  # the attempts are stored; only their count is lost
        logger.warning("could not count %d delivery attempts: %s", len(attempts), error)


def oldest_due_delivery_age() -> GaugeMetricFamily:
    """Return how long the oldest due delivery (pending or retrying, its time come) has waited; 0 when none."""
    now = utcnow()
    oldest = (
        Delivery.select(Delivery.next_attempt_at)
        .where(Delivery.status.in_(("pending", "retrying")) & (Delivery.next_attempt_at <= now))
        .order_by(Delivery.next_attempt_at)
        .limit(1)
        .scalar()
    )
    return GaugeMetricFamily(
        "hookyard_oldest_due_delivery_age_seconds",
        "Seconds the oldest due delivery has waited past its next_attempt_at; 0 when none is due.",
        value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
    )
