"""Dead letters: what the worker could not store, with why, to send back to its buffer or delete for good."""

from flask import current_app, g, request

from hookyard.core.http import current_config, get_owned_or_404
from hookyard.core.pagination import paginate_by_time
from hookyard.core.queues import INGEST_QUEUE
from hookyard.dashboard.blueprint import bp, page
from hookyard.dashboard.listing import PAGE_SIZE, next_page_url
from hookyard.dashboard.reveal import redirect_showing, take
from hookyard.ops import dead_letters
from models import DeadLetter

KIND_NAMES = {"signal": "Signals", "flow_event": "Flow events"}


@bp.get("/dead-letters")
def dead_letters_page():
    kind = request.args.get("kind") if request.args.get("kind") in KIND_NAMES else None
    query = dead_letters.dead_letter_query(g.organization.id, kind)
    cursor = request.args.get("cursor") or None
    rows, next_cursor = paginate_by_time(query, DeadLetter.failed_at, DeadLetter.id, limit=PAGE_SIZE, cursor=cursor)
    shown = [dead_letters.as_dict(row) for row in rows]
    return page("operations/dead_letters.html", dead_letters=shown, kind=kind, kinds=KIND_NAMES,
                next_url=next_page_url(next_cursor), **take())  # fmt: skip


@bp.post("/dead-letters/<dead_letter_id>/retry")
def retry_dead_letter(dead_letter_id):
    row = get_owned_or_404(DeadLetter, dead_letter_id, "dead letter")
    queue = current_app.queues[INGEST_QUEUE]
    if dead_letters.retry(current_app.redis, current_config().redis_prefix, queue, row):
        notice = "Sent back to be stored again. If it fails again, it comes back here with its new error."
    else:
        notice = "That dead letter was already retried or deleted."
    return redirect_showing("dashboard.dead_letters_page", {"notice": notice})


@bp.post("/dead-letters/<dead_letter_id>/delete")
def delete_dead_letter(dead_letter_id):
    row = get_owned_or_404(DeadLetter, dead_letter_id, "dead letter")
    DeadLetter.delete().where(DeadLetter.id == row.id).execute()
    return redirect_showing("dashboard.dead_letters_page", {"notice": "Deleted: what it held will not be stored."})
