"""Activity ingress: `POST /webhooks/ingress/<token>`, the URL any tool posts an Activity to.

The token in the URL is the only credential. The request finds the ingress URL by the token's hash,
validates the Activity, fixes its id, queues it and answers 202; the worker stores it.
"""

from flask import Blueprint, current_app, request

from hookyard.activities.jobs import store_activity, store_retry
from hookyard.activities.schemas import activity_accepted_schema, activity_in_schema
from hookyard.core.clock import utcnow
from hookyard.core.credentials import derived_public_id, hash_credential, new_public_id
from hookyard.core.errors import NotFound, ValidationFailed
from hookyard.core.http import load, public_url
from hookyard.core.jsonbody import read_json
from hookyard.core.openapi import documented
from hookyard.core.queues import DEFAULT_QUEUE
from models import IngressUrl, Member

bp = Blueprint("ingress", __name__)

ACCEPTED_MESSAGE = "Activity received"
TOKEN_PREFIX = "hy_ingress_"  # noqa: S105 (a prefix, not a secret)


def ingress_url_of(token: str) -> str:
    """Return the URL a tool posts activities to for this token."""
    return public_url(f"/webhooks/ingress/{token}")


def find_ingress_url(token: str) -> IngressUrl:
    """Return the live ingress URL that carries `token`, or answer 404."""
    # Looked up by the SHA-256 of a 192-bit token: the timing of the lookup tells nothing usable.
    found = (
        IngressUrl.select(IngressUrl, Member)
        .join(Member)
        .where((IngressUrl.token_hash == hash_credential(token)) & IngressUrl.revoked_at.is_null())
        .first()
    )
    if found is None:
        raise NotFound("No webhook answers at this URL: it was revoked, replaced by a rotation, or never existed.")
    return found


@bp.post("/webhooks/ingress/<token>")
@documented(
    body=activity_in_schema,
    responses={202: activity_accepted_schema},
    errors=(404, 413),
    tags=("activities",),
    auth="none",
)
def receive_activity(token):
    """Accept an Activity for this webhook's project; the same externalId again updates that activity."""
    ingress = find_ingress_url(token)
    data = load(activity_in_schema, read_json(request))
    member = ingress.created_by
    if data.get("memberEmail") is not None:
        email = data["memberEmail"].strip().lower()
        member = Member.get_or_none((Member.organization == ingress.organization_id) & (Member.email == email))
        if member is None:
            raise ValidationFailed(
                {"memberEmail": [f"{email} is not a member of this organization (add it: POST /v1/members)."]}
            )
    external_id = data.get("externalId")
    activity_id = (
        derived_public_id("act_", ingress.id, external_id) if external_id is not None else new_public_id("act_")
    )
    activity = {
        "id": activity_id,
        "organization_id": ingress.organization_id,
        "project_id": ingress.project_id,
        "webhook_id": ingress.id,
        "member_id": member.id,
        "member_email": member.email,
        "title": data["title"],
        "description": data.get("description"),
        "start_time": data["startTime"],
        "end_time": data.get("endTime"),
        "trigger": data.get("trigger"),
        "event": data.get("event"),
        "external_id": external_id,
        "metadata": data.get("metadata"),
        "received_at": utcnow(),
    }
    current_app.queues[DEFAULT_QUEUE].enqueue(store_activity, activity, retry=store_retry())
    return {"id": activity_id, "message": ACCEPTED_MESSAGE}, 202
