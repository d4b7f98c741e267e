"""`/v1/retention` (management API): how long the organization keeps payloads, delivery history and activities."""

from flask import Blueprint, g

from hookyard.core.http import authenticate_management, current_config, load_body
from hookyard.core.openapi import documented
from hookyard.ops import retention
from hookyard.ops.schemas import retention_in_schema, retention_schema

bp = Blueprint("retention", __name__, url_prefix="/v1")
bp.before_request(authenticate_management)

TAGS = ("retention",)


@bp.get("/retention")
@documented(responses={200: retention_schema}, tags=TAGS)
def get_retention():
    """Show how long each kind of data is kept (null: for ever), the environment's defaults, and which are the
    organization's own."""
    return retention_schema.dump(retention.describe(g.organization.id, current_config()))


@bp.put("/retention")
@documented(body=retention_in_schema, responses={200: retention_schema}, tags=TAGS)
def put_retention():
    """Replace the organization's retention: each field given (days, or null for ever) becomes its own, each field
    left out follows the environment's default; the next purge applies it."""
    retention.set_policy(g.organization.id, load_body(retention_in_schema))
    return retention_schema.dump(retention.describe(g.organization.id, current_config()))
