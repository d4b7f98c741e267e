"""API keys for the ingestion endpoints: created once (key and secret shown only then), listed by prefix."""

from flask import Blueprint, g

from hookyard.core.http import authenticate_management, current_secret_box, get_owned_or_404, list_args, load_body
from hookyard.core.openapi import documented
from hookyard.core.pagination import paginate
from hookyard.keys import api_keys
from hookyard.keys.schemas import (
    api_key_create_schema,
    api_key_created_schema,
    api_key_list_schema,
    api_key_schema,
    api_key_update_schema,
)
from models import ApiKey
from schemas import list_args_schema

bp = Blueprint("api_keys", __name__, url_prefix="/v1/api-keys")
bp.before_request(authenticate_management)


@bp.post("")
@documented(body=api_key_create_schema, responses={201: api_key_created_schema})
def create_api_key():
    """Create an API key; its key and secret are shown only in this answer."""
    data = load_body(api_key_create_schema)
    api_key, key, secret = api_keys.create_api_key(
        g.organization, data["name"], data["endpoint_type"], data["secret"], data["expires_at"], current_secret_box
    )
    return {**api_key_created_schema.dump(api_key), "key": key, "secret": secret}, 201


@bp.get("")
@documented(query=list_args_schema, responses={200: api_key_list_schema})
def list_api_keys():
    """List the organization's API keys, newest first (prefixes only, never the keys)."""
    args = list_args()
    query = ApiKey.select().where(ApiKey.organization == g.organization)
    keys, next_cursor = paginate(query, ApiKey.id, limit=args["limit"], cursor=args["cursor"])
    return {"api_keys": api_key_schema.dump(keys, many=True), "next_cursor": next_cursor}


@bp.get("/<int:key_id>")
@documented(responses={200: api_key_schema}, errors=(404,))
def get_api_key(key_id):
    """Show one API key (its prefix, never the key)."""
    return api_key_schema.dump(get_owned_or_404(ApiKey, key_id, "API key"))


@bp.patch("/<int:key_id>")
@documented(body=api_key_update_schema, responses={200: api_key_schema}, errors=(404,))
def update_api_key(key_id):
    """Rename, activate, deactivate or change the expiry of an API key."""
    api_key = get_owned_or_404(ApiKey, key_id, "API key")
    return api_key_schema.dump(api_keys.update_api_key(api_key, load_body(api_key_update_schema)))


@bp.delete("/<int:key_id>")
@documented(responses={204: None}, errors=(404,))
def delete_api_key(key_id):
    """Delete an API key; requests that use it are refused from now on."""
    api_keys.delete_api_key(get_owned_or_404(ApiKey, key_id, "API key"))
    return "", 204
