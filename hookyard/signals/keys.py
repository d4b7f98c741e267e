"""The Redis keys of signal staging, and the small pure helpers both processes use to fill them.

The web process (intake.py) accepts signals into the ingest buffer with one script; the worker (jobs.py)
drains it through the one buffer mechanism (hookyard/core/buffer.py) and caches identity links here.
"""

import datetime
import time

from hookyard.core.buffer import BufferKeys

USAGE_TTL = 3456000  # 40 days: a month's counter outlives its month, for GET /v1/usage


class SignalKeys(BufferKeys):
    """The names of the signal keys in Redis under one prefix: the ingest buffer's, and the limits, usage,
    identity and import keys the accept script and the jobs share."""

    def __init__(self, prefix: str):
        super().__init__(prefix, "signals")

    def limits(self, organization_id: int) -> str:
        return f"{self.prefix}:limits:{organization_id}"

    def usage(self, organization_id: int, period: str) -> str:
        return f"{self.prefix}:usage:{organization_id}:{period}"

    def per_second(self, organization_id: int, second: int) -> str:
        return f"{self.prefix}:rate:{organization_id}:{second}"

    def identities(self, organization_id: int) -> str:
        return f"{self.prefix}:identities:{organization_id}"

    def import_chunks(self, import_id: str) -> str:
        return f"{self.prefix}:imports:{import_id}:chunks"

    def import_failures(self, import_id: str) -> str:
        return f"{self.prefix}:imports:{import_id}:failures"

    def import_meta(self, import_id: str) -> str:
        return f"{self.prefix}:imports:{import_id}"


def usage_period(moment: datetime.datetime | None = None) -> str:
    """Return the usage period (`2026-11`) a moment falls in, in UTC."""
    if moment is None:  # the hot path: every accepted signal asks
        now = time.gmtime()
        return f"{now.tm_year:04d}-{now.tm_mon:02d}"
    return moment.strftime("%Y-%m")


def identity_field(kind: str, value: str) -> str:
    """Return the field under which an identity's lead is cached in the identities hash."""
    return f"{kind}:{value}"


def limits_mapping(raw_signals_per_month, signals_per_second, overages_enabled) -> dict:
    """Return the limits hash as the accept script reads it (-1 means no limit)."""
    return {
        "month": -1 if raw_signals_per_month is None else raw_signals_per_month,
        "second": -1 if signals_per_second is None else signals_per_second,
        "overages": 1 if overages_enabled else 0,
    }
