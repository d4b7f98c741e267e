"""Prometheus metrics: per-process request metrics, and service-wide counts kept in Redis.

Request counts and latencies live in each web process (aggregated across gunicorn workers through
PROMETHEUS_MULTIPROC_DIR when it is set). Queue depths and job/delivery outcomes are read from
Redis at scrape time, so any web process reports the numbers of every worker on every machine.
"""

import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

REQUESTS = Counter("hookyard_http_requests_total", "HTTP requests answered.", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "hookyard_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

ROUND_TRIPS = Histogram(
    "hookyard_redis_batch_calls",
    "Calls carried by each pipelined Redis round trip of a web process (group commit), by script.",
    ["script"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 500),
)

OUTCOMES_KEY = "metrics:outcomes"

_children: dict[tuple, tuple] = {}  # (endpoint, method, status) -> its counter and histogram


def record_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency (children cached: `labels()` is slow on the hot path)."""
    key = (endpoint, method, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (REQUESTS.labels(endpoint, method, status), LATENCY.labels(endpoint))
    children[0].inc()
    children[1].observe(seconds)


def record_round_trip(script: str, calls: int) -> None:
    """Count one pipelined round trip of the web process and the calls it carried."""
    ROUND_TRIPS.labels(script).observe(calls)


def record_outcome(redis, prefix: str, kind: str, outcome: str, amount: int = 1, pipeline=None) -> None:
    """Count a job or delivery outcome service-wide (e.g. kind="job", outcome="ingest:success")."""
    (pipeline or redis).hincrby(f"{prefix}:{OUTCOMES_KEY}", f"{kind}|{outcome}", amount)


class RedisCollector:
    """Collect queue depths and outcome counters from Redis at scrape time."""

    def __init__(self, redis, prefix: str, queues: dict):
        self.redis = redis
        self.prefix = prefix
        self.queues = queues

    def collect(self):
        depth = GaugeMetricFamily("hookyard_queue_depth", "Jobs waiting in each queue.", labels=["queue"])
        for name, queue in self.queues.items():
            depth.add_metric([name], queue.count)
        yield depth
        outcomes = {}
        for field, value in self.redis.hgetall(f"{self.prefix}:{OUTCOMES_KEY}").items():
            kind, _, outcome = field.decode().partition("|")
            family = outcomes.setdefault(
                kind, CounterMetricFamily(f"hookyard_{kind}s", f"{kind.capitalize()}s by outcome.", labels=["outcome"])
            )
            family.add_metric([outcome], int(value))
        yield from outcomes.values()


def render(redis_collector: RedisCollector | None) -> bytes:
    """Return the Prometheus text exposition of this process (or all web processes) and of Redis."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if redis_collector is not None:
        registry = CollectorRegistry()
        registry.register(redis_collector)
        text += generate_latest(registry)
    return text
