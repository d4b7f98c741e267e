"""Cursor pagination: `?limit=&cursor=` in, `{"<plural>": [...], "next_cursor"}` out, newest first."""

import base64
import datetime

import orjson
from peewee import IntegerField

from hookyard.core.errors import BadRequest


def encode_cursor(last_id) -> str:
    """Return the opaque cursor that continues after `last_id`."""
    return base64.urlsafe_b64encode(orjson.dumps([last_id])).decode().rstrip("=")


def decode_cursor(cursor: str):
    """Return the id a cursor continues after; a cursor that was not ours is a 400."""
    try:
        (last_id,) = _unpack(cursor)
    except (ValueError, TypeError):
        raise _not_ours() from None
    if not _usable_id(last_id):
        raise _not_ours()
    return last_id


def paginate(query, id_field, *, limit: int, cursor: str | None):
    """Return one page of `query` ordered by `id_field` descending, and the cursor of the next page."""
    if cursor:
        query = query.where(id_field < _id_for(id_field, decode_cursor(cursor)))
    rows = list(query.order_by(id_field.desc()).limit(limit + 1))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(getattr(rows[-1], id_field.name))


def paginate_by_time(query, time_field, id_field, *, limit: int, cursor: str | None):
    """Return one page ordered by `time_field`, then `id_field`, descending: for ids that do not follow time."""
    if cursor:
        moment, last_id = _decode_time_cursor(cursor)
        last_id = _id_for(id_field, last_id)
        query = query.where((time_field < moment) | ((time_field == moment) & (id_field < last_id)))
    rows = list(query.order_by(time_field.desc(), id_field.desc()).limit(limit + 1))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    token = orjson.dumps([getattr(last, time_field.name).isoformat(), getattr(last, id_field.name)])
    return rows, base64.urlsafe_b64encode(token).decode().rstrip("=")


def _decode_time_cursor(cursor: str):
    """Return the (naive UTC time, id) a time cursor continues after; anything else is a 400."""
    try:
        moment, last_id = _unpack(cursor)
        moment = datetime.datetime.fromisoformat(moment)
    except (ValueError, TypeError):
        raise _not_ours() from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    if not _usable_id(last_id):
        raise _not_ours()
    return moment, last_id


def _id_for(id_field, last_id):
    """Return a cursor's id if it has the type of the column it is compared with; else the cursor was not ours.

    Postgres refuses to compare a bigint column with text (and SQLite compares them silently wrong).
    """
    if isinstance(last_id, int) != isinstance(id_field, IntegerField):
        raise _not_ours()
    return last_id


def _unpack(cursor: str) -> list:
    """Return the JSON array a cursor of ours encodes; anything else raises ValueError."""
    value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    if not isinstance(value, list):
        raise ValueError("a cursor holds a JSON array")
    return value


def _not_ours() -> BadRequest:
    return BadRequest("The cursor is not one this API returned.", code="invalid_cursor")


def _usable_id(value) -> bool:
    """An id a cursor may carry: an int a BIGINT holds, or a string without NUL (Postgres refuses it)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) < value < 2**63
    return isinstance(value, str) and "\x00" not in value and len(value) <= 255
