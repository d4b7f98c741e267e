"""What every blueprint shares: management authentication, schema loading, list arguments."""

from flask import g, request
from marshmallow import ValidationError

from hookyard.core.credentials import hash_credential
from hookyard.core.errors import Unauthorized, ValidationFailed
from hookyard.core.jsonbody import read_json
from models import Organization
from schemas import list_args_schema


def authenticate_management() -> None:
    """Resolve `Authorization: Bearer <management key>` to `g.organization`, or answer 401."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("Send your management key as `Authorization: Bearer <key>`.")
    # Lookup is by the hash of a 192-bit random key: timing reveals nothing usable about other keys.
    organization = Organization.for_management_key_hash(hash_credential(key.strip()))
    if organization is None:
        raise Unauthorized("The management key is not valid.")
    g.organization = organization


def load(schema, data, *, partial=False):
    """Load `data` through a marshmallow schema; every bad field is named in a 400."""
    try:
        loaded = schema.load(data, partial=partial)
    except ValidationError as error:
        raise ValidationFailed(error.messages) from None
    holding_nul = sorted(name for name, value in loaded.items() if _holds_nul(value))
    if holding_nul:  # Postgres cannot store it in text; no one means it
        raise ValidationFailed({name: ["Must not contain the NUL character (\\u0000)."] for name in holding_nul})
    return loaded


def _holds_nul(value) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


def load_body(schema, *, partial=False):
    """Read the JSON object body of the request and load it through `schema`."""
    return load(schema, read_json(request), partial=partial)


def list_args(extra_schema=None) -> dict:
    """Load `?limit=&cursor=` (and any filters `extra_schema` declares) from the query string."""
    args = load(list_args_schema, {k: v for k, v in request.args.items() if k in ("limit", "cursor")})
    if extra_schema is not None:
        args.update(load(extra_schema, {k: v for k, v in request.args.items() if k not in ("limit", "cursor")}))
    return args
