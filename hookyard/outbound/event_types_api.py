"""The event types API (`/v1/event-types`): an organization's catalogue, its own types and its changes to the
sample ones. Hookyard's own types are listed and read here, never changed."""

import peewee
from flask import Blueprint, g

from hookyard.core.clock import utcnow
from hookyard.core.db import db
from hookyard.core.errors import BadRequest, Conflict, NotFound, ValidationFailed
from hookyard.core.http import authenticate_management, list_args, load_body
from hookyard.core.openapi import documented
from hookyard.core.pagination import decode_cursor, encode_cursor
from hookyard.outbound import catalogue
from hookyard.outbound.event_types import builtin_description, kind_of
from hookyard.outbound.schemas import (
    event_type_create_schema,
    event_type_filter_schema,
    event_type_list_schema,
    event_type_schema,
    event_type_update_schema,
)
from hookyard.outbound.type_schemas import schema_problems
from models import EventType

bp = Blueprint("event_types", __name__, url_prefix="/v1")
bp.before_request(authenticate_management)

TAGS = ("event types",)


def _event_type(name: str) -> EventType:
    found = catalogue.find_event_type(g.organization.id, name)
    if found is None:
        raise NotFound(f"No event type {name}.")
    return found


def _check_schema(data: dict) -> None:
    """Refuse a schema that is no usable JSON Schema, naming where it goes wrong."""
    if data.get("schema") is not None:
        problems = schema_problems(data["schema"])
        if problems:
            raise ValidationFailed(problems, "The schema is not a JSON Schema this server can use.")


def _exists(name: str) -> Conflict:
    return Conflict(f"Event type {name} already exists.", code="event_type_exists")


@bp.post("/event-types")
@documented(body=event_type_create_schema, responses={201: event_type_schema}, errors=(409,), tags=TAGS)
def create_event_type():
    """Add an event type of the organization's own (a name already in the catalogue is a 409)."""
    data = load_body(event_type_create_schema)
    if builtin_description(data["name"]) is not None:
        raise _exists(data["name"])
    _check_schema(data)
    now = utcnow()
    try:
        with db.atomic():
            created = EventType.create(
                organization=g.organization,
                name=data["name"],
                description=data["description"],
                data_schema=data["schema"],
                archived=data["archived"],
                created_at=now,
                updated_at=now,
            )
    except peewee.IntegrityError:
        raise _exists(data["name"]) from None
    return event_type_schema.dump(created), 201


@bp.get("/event-types")
@documented(query=event_type_filter_schema, responses={200: event_type_list_schema}, tags=TAGS)
def list_event_types():
    """List the catalogue by name: built-in types and the organization's own (archived ones on request)."""
    args = list_args(event_type_filter_schema)
    after = decode_cursor(args["cursor"]) if args["cursor"] else None
    if after is not None and not isinstance(after, str):
        raise BadRequest("The cursor is not one this API returned.", code="invalid_cursor")
    types, last = catalogue.list_event_types(
        g.organization.id, limit=args["limit"], after=after, include_archived=args["include_archived"]
    )
    return {
        "event_types": event_type_schema.dump(types, many=True),
        "next_cursor": encode_cursor(last) if last is not None else None,
    }


@bp.get("/event-types/<name>")
@documented(responses={200: event_type_schema}, errors=(404,), tags=TAGS)
def get_event_type(name):
    """Show one event type, with its schema."""
    return event_type_schema.dump(_event_type(name))


@bp.patch("/event-types/<name>")
@documented(body=event_type_update_schema, responses={200: event_type_schema}, errors=(404,), tags=TAGS)
def update_event_type(name):
    """Change a type's description, schema or archived flag; its name never changes, Hookyard's own not at all."""
    event_type = _event_type(name)
    data = load_body(event_type_update_schema)
    if data.pop("name", name) != name:
        raise ValidationFailed({"name": ["An event type's name never changes; create a new type instead."]})
    if kind_of(name) == "hookyard":
        raise BadRequest(
            f"Hookyard publishes {name} itself: its own event types cannot be changed or archived.",
            code="read_only_event_type",
        )
    _check_schema(data)
    if not data:
        return event_type_schema.dump(event_type)
    now = utcnow()
    if event_type.id is None:  # a sample type changed for the first time: its row holds the changes
        EventType.insert(
            organization=g.organization, name=name, description=event_type.description, created_at=now, updated_at=now
        ).on_conflict_ignore().execute()
        event_type = _event_type(name)
    if "schema" in data:
        event_type.data_schema = data.pop("schema")
    for field, value in data.items():
        setattr(event_type, field, value)
    event_type.updated_at = now
    event_type.save()
    return event_type_schema.dump(event_type)
