"""Dead letters: what the worker could not store, with why, to send back to its buffer or delete for good."""

from flask import current_app, g

from hookyard.core.http import current_config, get_owned_or_404
from hookyard.core.queues import INGEST_QUEUE
from hookyard.dashboard.blueprint import bp
from hookyard.dashboard.listing import list_page
from hookyard.dashboard.reveal import redirect_showing, take
from hookyard.ops import dead_letters
from hookyard.ops.schemas import dead_letter_filter_schema
from models import DeadLetter

KIND_NAMES = {"signal": "Signals", "flow_event": "Flow events"}


@bp.get("/dead-letters")
def dead_letters_page():
    def query_for(filters):
        return dead_letters.dead_letter_query(g.organization.id, filters.get("kind"))

    return list_page("operations/dead_letters.html", "dead_letters", query_for, DeadLetter.id,
                     schema=dead_letter_filter_schema, time_field=DeadLetter.failed_at, kinds=KIND_NAMES,
                     view=dead_letters.as_dict, **take())  # fmt: skip


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
