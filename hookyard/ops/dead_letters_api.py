"""Dead letters through the management API: list them, retry one (back to its buffer) or delete it."""

from flask import Blueprint, current_app, g

from hookyard.core.errors import NotFound
from hookyard.core.http import authenticate_management, current_config, get_owned_or_404, list_args
from hookyard.core.openapi import documented
from hookyard.core.pagination import paginate_by_time
from hookyard.core.queues import INGEST_QUEUE
from hookyard.ops import dead_letters
from hookyard.ops.schemas import dead_letter_filter_schema, dead_letter_list_schema, dead_letter_schema, retried_schema
from models import DeadLetter

bp = Blueprint("dead_letters", __name__, url_prefix="/v1")
bp.before_request(authenticate_management)


@bp.get("/dead-letters")
@documented(query=dead_letter_filter_schema, responses={200: dead_letter_list_schema}, tags=("operations",))
def list_dead_letters():
    """List signals and flow events the worker could not store, newest first (filter by `kind`)."""
    args = list_args(dead_letter_filter_schema)
    query = dead_letters.dead_letter_query(g.organization.id, args.get("kind"))
    page, next_cursor = paginate_by_time(
        query, DeadLetter.failed_at, DeadLetter.id, limit=args["limit"], cursor=args["cursor"]
    )
    return {"dead_letters": [dead_letter_schema.dump(dead_letters.as_dict(row)) for row in page],
            "next_cursor": next_cursor}  # fmt: skip


@bp.get("/dead-letters/<dead_letter_id>")
@documented(responses={200: dead_letter_schema}, errors=(404,), tags=("operations",))
def get_dead_letter(dead_letter_id):
    """Show one dead letter."""
    return dead_letter_schema.dump(dead_letters.as_dict(get_owned_or_404(DeadLetter, dead_letter_id, "dead letter")))


@bp.post("/dead-letters/<dead_letter_id>/retry")
@documented(responses={202: retried_schema}, errors=(404, 503), tags=("operations",))
def retry_dead_letter(dead_letter_id):
    """Send a dead letter back to its buffer; the worker stores it again, or sets it aside again (same id)."""
    row = get_owned_or_404(DeadLetter, dead_letter_id, "dead letter")
    queue = current_app.queues[INGEST_QUEUE]
    if not dead_letters.retry(current_app.redis, current_config().redis_prefix, queue, row):
        raise NotFound(f"No dead letter {dead_letter_id}.")  # retried or deleted a moment ago
    return retried_schema.dump({"id": row.id, "status": "queued"}), 202


@bp.delete("/dead-letters/<dead_letter_id>")
@documented(responses={204: None}, errors=(404,), tags=("operations",))
def delete_dead_letter(dead_letter_id):
    """Delete a dead letter for good: what it held is not stored."""
    row = get_owned_or_404(DeadLetter, dead_letter_id, "dead letter")
    if not DeadLetter.delete().where(DeadLetter.id == row.id).execute():
        raise NotFound(f"No dead letter {dead_letter_id}.")  # retried or deleted a moment ago
    return "", 204
