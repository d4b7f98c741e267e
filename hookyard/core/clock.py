"""The one clock: naive UTC datetimes, the form every table stores, and their `...Z` wire form."""

import datetime


def utcnow() -> datetime.datetime:
    """Return the current UTC time as a naive datetime, the form every table stores."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def iso_z(moment: datetime.datetime | None) -> str | None:
    """Return a naive UTC time as ISO 8601 with milliseconds and a `Z` (None stays None)."""
    return None if moment is None else moment.isoformat(timespec="milliseconds") + "Z"
