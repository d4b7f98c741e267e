"""A flow's health over a window: volume, success and error rates, latency percentiles, a time series.

Accepted events and their latency (receipt to processed) come from the event log in the database;
failed downstream deliveries from the deliveries of the events a flow published; rejected requests
(400/401/404/413/415/429) from the per-minute counters the web keeps in Redis. An error is a rejected
request, or an accepted event with a delivery that failed for good; so `error_rate` stays within 0..1.
"""

import datetime
import time

from peewee import SQL, fn

from hookyard.core.errors import ValidationFailed
from hookyard.flows.keys import FlowKeys
from models import Delivery, FlowEvent

UNITS = {"m": 60, "h": 3600, "d": 86400}
MAX_WINDOW = 7 * 86400
BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86400)  # series step: the smallest that gives at most 120 points


def parse_window(window: str) -> int:
    """Return a window like 15m, 1h, 7d in seconds; past 7 days is a 400."""
    seconds = int(window[:-1]) * UNITS[window[-1]]
    if seconds > MAX_WINDOW:
        raise ValidationFailed({"window": ["The longest window is 7d."]})
    return seconds


def _step(window_seconds: int) -> int:
    """The series step: the smallest that keeps the points (both ends counted) at 120 or fewer."""
    return next((step for step in BUCKETS if window_seconds // step + 1 <= 120), BUCKETS[-1])


def _percentile(query, count: int, fraction: float):
    """The nearest-rank percentile of latency_ms among `count` rows, computed by the database."""
    if count == 0:
        return None
    rank = max(1, -(-int(count * fraction * 1000) // 1000))  # ceil(count * fraction)
    return query.select(FlowEvent.latency_ms).order_by(FlowEvent.latency_ms).offset(rank - 1).limit(1).scalar()


def _rejections(redis, prefix: str, flow_id: str, first_minute: int, last_minute: int) -> dict[int, dict[str, int]]:
    keys = FlowKeys(prefix, flow_id)
    minutes = list(range(first_minute, last_minute + 1))
    with redis.pipeline(transaction=False) as pipe:
        for minute in minutes:
            pipe.hgetall(keys.rejected(minute))
        counts = pipe.execute()
    return {
        minute: {code.decode(): int(n) for code, n in found.items()}
        for minute, found in zip(minutes, counts, strict=True)
        if found
    }


def flow_metrics(redis, prefix: str, flow, window: str, window_seconds: int) -> dict:
    """Return a flow's health over a window: volume, outcomes, latency percentiles and a time series."""
    now_epoch = time.time()
    step = _step(window_seconds)
    # Whole minutes on both sides: accepted events by their received_minute, rejections by the
    # per-minute counters, so neither covers a longer span than the other.
    first_minute, last_minute = int(now_epoch - window_seconds) // 60 + 1, int(now_epoch) // 60
    in_window = (FlowEvent.flow == flow.id) & (FlowEvent.received_minute >= first_minute)
    totals = FlowEvent.select(fn.COUNT(SQL("*")), fn.SUM(FlowEvent.duplicate.cast("integer"))).where(in_window)
    accepted, duplicates = (int(value or 0) for value in (totals.tuples().first() or (0, 0)))
    originals = FlowEvent.select().where(in_window & (FlowEvent.duplicate == False))  # noqa: E712
    latency = {
        name: _percentile(originals, accepted - duplicates, fraction)
        for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
    }
    accepted_series, failed_series = _accepted_and_failed_series(in_window, step)
    rejected, rejected_series = _rejected_series(redis, prefix, flow.id, first_minute, last_minute, step)
    rejected_total, failed_total = sum(rejected.values()), sum(failed_series.values())
    volume = accepted + rejected_total
    error_rate = (rejected_total + failed_total) / volume if volume else None
    series = [
        {
            "t": datetime.datetime.fromtimestamp(point * step, datetime.UTC),
            "count": accepted_series.get(point, 0) + rejected_series.get(point, 0),
            "errors": rejected_series.get(point, 0) + failed_series.get(point, 0),
        }
        for point in range(first_minute * 60 // step, last_minute * 60 // step + 1)
    ]
    return {
        "window": window,
        "event_volume": volume,
        "accepted": accepted,
        "duplicates": duplicates,
        "rejected": rejected,
        "failed_deliveries": failed_total,
        "success_rate": None if error_rate is None else round(1 - error_rate, 4),
        "error_rate": None if error_rate is None else round(error_rate, 4),
        "latency_ms": latency,
        "series": series,
    }


def _accepted_and_failed_series(in_window, step: int) -> tuple[dict, dict]:
    """Return accepted events, and events with a failed delivery, per series point."""
    bucket = (FlowEvent.received_minute / (step // 60)).alias("bucket")  # integer division on both databases
    accepted = FlowEvent.select(bucket, fn.COUNT(SQL("*"))).where(in_window).group_by(SQL("bucket"))
    failed = (
        FlowEvent.select(bucket, fn.COUNT(FlowEvent.id.distinct()))
        .join(Delivery, on=(Delivery.event == FlowEvent.outbound_event_id))
        .where(in_window & (Delivery.status == "failed"))
        .group_by(SQL("bucket"))
    )
    return dict(accepted.tuples()), dict(failed.tuples())


def _rejected_series(redis, prefix: str, flow_id: str, first_minute: int, last_minute: int, step: int):
    """Return rejections by status code over the window, and their count per series point."""
    rejected, per_point = {}, {}
    for minute, codes in _rejections(redis, prefix, flow_id, first_minute, last_minute).items():
        for code, count in codes.items():
            rejected[code] = rejected.get(code, 0) + count
        point = minute * 60 // step
        per_point[point] = per_point.get(point, 0) + sum(codes.values())
    return rejected, per_point
