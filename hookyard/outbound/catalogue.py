"""An organization's catalogue of event types: the built-in ones (in code), its changes to the sample ones and
its own (rows). Web side: what the event types API shows, and what publishing and subscribing are checked
against. Hookyard's own types never have rows, so checking one costs no query."""

import heapq
import itertools

from peewee import PostgresqlDatabase

from hookyard.core.db import db
from hookyard.core.errors import ValidationFailed
from hookyard.outbound.event_types import BUILTIN_TYPES, SAMPLE_TYPES, builtin_description, is_valid_pattern, kind_of
from hookyard.outbound.type_schemas import compile_validator, data_errors
from models import EventType


def builtin_event_type(name: str) -> EventType | None:
    """Return a built-in type (any `flow.<event>` too) as an unsaved row, or None for any other name."""
    description = builtin_description(name)
    if description is None:
        return None
    return EventType(
        name=name, description=description, data_schema=None, archived=False, created_at=None, updated_at=None
    )


def find_event_type(organization_id: int, name: str) -> EventType | None:
    """Return an organization's event type by name: its row, else the built-in one, else None."""
    if kind_of(name) != "hookyard":
        found = EventType.get_or_none((EventType.organization == organization_id) & (EventType.name == name))
        if found is not None:
            return found
    return builtin_event_type(name)


def list_event_types(organization_id: int, *, limit: int, after: str | None, include_archived: bool):
    """Return one page of the catalogue in name order, and the name the next page starts after (None: no more)."""
    name = _in_byte_order(EventType.name)
    mine = EventType.organization == organization_id
    changed = set(EventType.select(EventType.name).where(mine & EventType.name.in_(list(SAMPLE_TYPES))).scalars())
    builtins = [
        builtin_event_type(each)
        for each in sorted(BUILTIN_TYPES)
        if each not in changed and (after is None or each > after)
    ]
    rows = EventType.select().where(mine)
    if after is not None:
        rows = rows.where(name > after)
    if not include_archived:
        rows = rows.where(EventType.archived == False)  # noqa: E712
    rows = rows.order_by(name).limit(limit + 1)
    page = list(itertools.islice(heapq.merge(builtins, rows, key=lambda each: each.name), limit + 1))
    if len(page) <= limit:
        return page, None
    return page[:limit], page[limit - 1].name


def check_publishable(organization_id: int, event_type: str, data: dict) -> None:
    """Answer 400 unless the organization may publish this type with this data: a known type, not archived,
    and `data` valid against its schema, if it has one."""
    found = None if "*" in event_type else find_event_type(organization_id, event_type)
    if found is None:
        message = f"Unknown event type {event_type!r}; create it with POST /v1/event-types."
        raise ValidationFailed({"type": [message]}, message)
    if found.archived:
        message = f"Event type {event_type!r} is archived; un-archive it to publish it."
        raise ValidationFailed({"type": [message]}, message)
    if found.data_schema is not None:
        # Built per request: a validator costs microseconds to build, the row's query far more.
        errors = data_errors(compile_validator(found.data_schema), data)
        if errors:
            raise ValidationFailed(errors, f"`data` does not match the schema of event type {event_type!r}.")


def unknown_patterns(organization_id: int, patterns: list[str], subscribed_already=()) -> list[str]:
    """Return the patterns a webhook may not newly subscribe to: those covering no active type.

    A pattern the webhook already has stays valid: archiving a type leaves its subscribers as they are.
    """
    new = [pattern for pattern in patterns if pattern not in subscribed_already]
    if not new:
        return []
    names = _active_names(organization_id)
    return [pattern for pattern in new if not is_valid_pattern(pattern, names)]


def _active_names(organization_id: int) -> set[str]:
    """Return the names of the organization's types that are not archived, built-in ones included."""
    archived = dict(
        EventType.select(EventType.name, EventType.archived).where(EventType.organization == organization_id).tuples()
    )
    return {name for name in BUILTIN_TYPES if not archived.get(name)} | {
        name for name, is_archived in archived.items() if not is_archived
    }


def _in_byte_order(field):
    """Order names as Python does (byte order): Postgres would use its locale, which skips `.` and `_`."""
    return field.collate('"C"') if isinstance(db.obj, PostgresqlDatabase) else field
