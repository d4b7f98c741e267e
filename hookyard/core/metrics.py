"""Prometheus metrics: per-process counts of requests and intake, and service-wide counts kept in Redis.

Per process (summed across gunicorn workers through PROMETHEUS_MULTIPROC_DIR when it is set): HTTP
requests and their latency, the group commit's round trips, and what each ingress endpoint accepted and
refused, counted as the request is answered, with no Redis call of its own. Service-wide, read from Redis
at scrape time so any web process reports every worker on every machine: the counters and histograms the
workers add to in one hash (`SharedCounter`, `SharedHistogram`), list lengths (queues, buffers, dead
letters) and gauges a capability computes when scraped (probes). Counting never fails the work it counts.
"""

import bisect
import collections
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from flask import g
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.utils import floatToGoString

logger = logging.getLogger(__name__)

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

COUNTS_KEY = "metrics:counts"  # one hash under the prefix: "<metric>|<label value>|..." -> count

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


class IntakeCounters:
    """Per-process counts of the items an ingress endpoint accepted, and refused by the refusal's error code.

    `count_answer` runs as an after_request hook. A 2xx counts what the view reported with `answered`
    (one accepted item by default); an error counts every item the request was known to carry (`carrying`),
    or one when its body was never read, under the `error` code of the JSON answer.
    """

    def __init__(self, noun: str, what: str):
        self.accepted = Counter(f"hookyard_{noun}_accepted_total", f"{what} accepted, per web process.")
        self.rejected = Counter(
            f"hookyard_{noun}_rejected_total",
            f"{what} refused, by the error code answered, per web process.",
            ["reason"],
        )
        self._reasons: dict[str, Counter] = {}

    @staticmethod
    def carrying(count: int) -> None:
        """Say the request holds `count` items: refused from here on, it counts them all."""
        g.intake_count = count

    @staticmethod
    def answered(accepted: int, refused: Iterable[str] = ()) -> None:
        """Say what a 2xx answer accepted, and the error code of each item it refused."""
        g.intake_answer = (accepted, list(refused))

    def count_answer(self, response):
        """Count the answered request's items (an after_request hook); return the response."""
        if response.status_code < 400:
            accepted, refused = g.pop("intake_answer", (1, []))
            if accepted:
                self.accepted.inc(accepted)
            for reason in refused:
                self._rejected(reason).inc()
        else:
            body = response.get_json(silent=True)
            reason = body.get("error") if isinstance(body, dict) else None
            self._rejected(reason or f"http_{response.status_code}").inc(g.get("intake_count", 1))
        return response

    def _rejected(self, reason: str):
        child = self._reasons.get(reason)
        if child is None:
            child = self._reasons[reason] = self.rejected.labels(reason)
        return child


def counts_key(prefix: str) -> str:
    return f"{prefix}:{COUNTS_KEY}"


@dataclass(frozen=True)
class SharedCounter:
    """A counter every process adds to in Redis (HINCRBY), exposed by any web process."""

    name: str
    documentation: str
    labels: tuple[str, ...] = ()

    def add(self, redis, prefix: str, *values: str, amount: int = 1) -> None:
        """Add `amount` to the series of `values`, one per label; `redis` may be a pipeline."""
        redis.hincrby(counts_key(prefix), "|".join((self.name, *values)), amount)

    def family(self, fields: dict[tuple, int]) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, count in sorted(fields.items()):
            if len(values) == len(self.labels):
                family.add_metric(values, count)
        return family


@dataclass(frozen=True)
class SharedHistogram:
    """A histogram every process adds to in Redis: a count per bucket (not cumulative) and the sum in µs."""

    name: str
    documentation: str
    buckets: tuple[float, ...]

    def observe(self, redis, prefix: str, seconds: Sequence[float]) -> None:
        """Add observations: one HINCRBY per bucket they fall in, and one for their sum; `redis` may be a pipeline."""
        if not seconds:
            return
        key = counts_key(prefix)
        for bound, count in collections.Counter(map(self._bound_of, seconds)).items():
            redis.hincrby(key, f"{self.name}|{bound}", count)
        redis.hincrby(key, f"{self.name}|sum_us", round(sum(seconds) * 1_000_000))

    def _bound_of(self, value: float) -> str:
        index = bisect.bisect_left(self.buckets, value)
        return floatToGoString(self.buckets[index]) if index < len(self.buckets) else "+Inf"

    def family(self, fields: dict[tuple, int]) -> HistogramMetricFamily:
        cumulative, buckets = 0, []
        for bound in (*map(floatToGoString, self.buckets), "+Inf"):
            cumulative += fields.get((bound,), 0)
            buckets.append((bound, cumulative))
        return HistogramMetricFamily(
            self.name, self.documentation, buckets=buckets, sum_value=fields.get(("sum_us",), 0) / 1_000_000
        )


@dataclass(frozen=True)
class ListLengths:
    """A gauge of Redis list lengths read at scrape time, one series per list (`keys`: label value -> key)."""

    name: str
    documentation: str
    label: str
    keys: dict[str, str]


JOBS = SharedCounter(
    "hookyard_jobs_total", "Jobs the workers finished, by queue and outcome (success, failure).", ("queue", "outcome")
)


class RedisCollector:
    """Collect the service-wide metrics at scrape time: list lengths and shared counts in one Redis round trip,
    then each probe (a function returning a metric family, e.g. from the database); a failing probe is left out."""

    def __init__(
        self,
        redis,
        prefix: str,
        shared: Sequence[SharedCounter | SharedHistogram] = (),
        lists: Sequence[ListLengths] = (),
        probes: Sequence[Callable] = (),
    ):
        self.redis = redis
        self.prefix = prefix
        self.shared = shared
        self.lists = lists
        self.probes = probes

    def collect(self):
        with self.redis.pipeline(transaction=False) as pipe:
            for gauge in self.lists:
                for key in gauge.keys.values():
                    pipe.llen(key)
            pipe.hgetall(counts_key(self.prefix))
            *lengths, counts = pipe.execute()
        lengths = iter(lengths)
        for gauge in self.lists:
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=[gauge.label])
            for label in gauge.keys:
                family.add_metric([label], next(lengths))
            yield family
        fields: dict[str, dict[tuple, int]] = collections.defaultdict(dict)
        for field, value in counts.items():
            name, *values = field.decode().split("|")
            fields[name][tuple(values)] = int(value)
        for metric in self.shared:
            yield metric.family(fields[metric.name])
        for probe in self.probes:
            try:
                family = probe()
            except Exception:  # a database away must not take the Redis metrics with it
                logger.warning("the metrics probe %s failed; left out of this scrape", probe.__name__, exc_info=True)
                continue
            yield family


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
