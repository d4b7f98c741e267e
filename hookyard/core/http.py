"""What every blueprint shares: the configuration and secret box, management auth, loading bodies and list
arguments, and finding an organization's own record or answering 404."""

from flask import current_app, g, request
from marshmallow import ValidationError
from werkzeug.routing import IntegerConverter

from hookyard.core.config import Config
from hookyard.core.credentials import SecretBox, hash_credential
from hookyard.core.errors import NotFound, Unauthorized, ValidationFailed
from hookyard.core.jsonbody import NUL_MESSAGE, nul_paths, read_json
from models import ManagementKey
from schemas import MAX_BIGINT, list_args_schema


class IdConverter(IntegerConverter):
    """The `int` of URL rules, up to the largest id a BIGINT holds: a longer number is no resource (404)."""

    def __init__(self, url_map, fixed_digits=0, min=None, max=MAX_BIGINT, signed=False):
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def current_config() -> Config:
    """Return the configuration of the app serving this request."""
    return current_app.config["HOOKYARD"]


def current_secret_box() -> SecretBox:
    """Return the box that seals and opens signing secrets; raises SecretBoxError (a 503) without a key."""
    box = current_app.extensions.get("secret_box")
    if box is None:
        box = current_app.extensions["secret_box"] = SecretBox(current_config().encryption_key)
    return box


def public_url(path: str) -> str:
    """Return the URL senders reach `path` at: PUBLIC_URL when set, else the host this request came to."""
    return (current_config().public_url or request.host_url.rstrip("/")) + path


def get_owned_or_404(query, record_id, name: str, hint: str = ""):
    """Return the record with this id that belongs to the caller's organization, or answer 404 naming it.

    `query` is a model, or a select of one (to join what the answer needs); `hint` follows the message.
    """
    model = query.model if hasattr(query, "model") else query
    select = query if hasattr(query, "model") else model.select()
    found = select.where((model.id == record_id) & (model.organization == g.organization)).first()
    if found is None:
        raise NotFound(f"No {name} {record_id}{hint}.")
    return found


def authenticate_management() -> None:
    """Resolve `Authorization: Bearer <management key>` to `g.organization`, or answer 401."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("Send your management key as `Authorization: Bearer <key>`.")
    # Lookup is by the hash of a 192-bit random key: timing reveals nothing usable about other keys.
    organization = ManagementKey.organization_of(hash_credential(key.strip()))
    if organization is None:
        raise Unauthorized("The management key is not valid.")
    g.organization = organization


def load(schema, data, *, partial=False):
    """Load `data` through a marshmallow schema; every bad field is named in a 400."""
    try:
        loaded = schema.load(data, partial=partial)
    except ValidationError as error:
        raise ValidationFailed(error.messages) from None
    holding_nul = sorted({path.split(".", 1)[0] for path in nul_paths(loaded)})  # named by the field
    if holding_nul:
        raise ValidationFailed({name: [NUL_MESSAGE] for name in holding_nul})
    return loaded


def load_body(schema, *, partial=False):
    """Read the JSON object body of the request and load it through `schema`."""
    return load(schema, read_json(request), partial=partial)


def list_args(extra_schema=None) -> dict:
    """Load `?limit=&cursor=` (and any filters `extra_schema` declares) from the query string."""
    args = load(list_args_schema, {k: v for k, v in request.args.items() if k in ("limit", "cursor")})
    if extra_schema is not None:
        args.update(load(extra_schema, {k: v for k, v in request.args.items() if k not in ("limit", "cursor")}))
    return args
