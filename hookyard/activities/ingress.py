"""Activity ingress: `POST /webhooks/ingress/<token>`, the URL any tool posts an Activity to.

The token in the URL is the only credential. The request finds the webhook by the token's hash,
validates the Activity, fixes its id, queues it and answers 202; the worker stores it.
"""

from flask import Blueprint, current_app, request
from rq import Retry

from hookyard.activities.schemas import ActivityAcceptedSchema, ActivityInSchema, activity_in_schema
from hookyard.core.clock import utcnow
from hookyard.core.common import load
from hookyard.core.credentials import derived_public_id, hash_credential, new_public_id
from hookyard.core.errors import NotFound, ValidationFailed
from hookyard.core.jsonbody import read_json
from hookyard.core.openapi import documented
from hookyard.core.queues import DEFAULT_QUEUE
from models import IngressWebhook, Member

bp = Blueprint("ingress", __name__)

ACCEPTED_MESSAGE = "Activity received"
TOKEN_PREFIX = "hy_ingress_"  # noqa: S105 (a prefix, not a secret)
# The database may be briefly away when the job runs; the job waits and tries again rather than fail.
STORE_RETRY = (1, 5, 30, 120, 600)


def ingress_url(token: str) -> str:
    """Return the URL a tool posts activities to for this token."""
    base = current_app.config["HOOKYARD"].public_url or request.host_url.rstrip("/")
    return f"{base}/webhooks/ingress/{token}"


def find_webhook(token: str) -> IngressWebhook:
    """Return the live webhook whose URL carries `token`, or answer 404."""
    # Looked up by the SHA-256 of a 192-bit token: the timing of the lookup tells nothing usable.
    webhook = (IngressWebhook.select(IngressWebhook, Member).join(Member)
               .where((IngressWebhook.token_hash == hash_credential(token)) & IngressWebhook.revoked_at.is_null())
               .first())
    if webhook is None:
        raise NotFound("No webhook answers at this URL: it was revoked, replaced by a rotation, or never existed.")
    return webhook


@bp.post("/webhooks/ingress/<token>")
@documented(body=ActivityInSchema, responses={202: ActivityAcceptedSchema}, errors=(404, 413),
            tags=("activities",), auth="none")
def receive_activity(token):
    """Accept an Activity for this webhook's project; the same externalId again updates that activity."""
    webhook = find_webhook(token)
    data = load(activity_in_schema, read_json(request))
    member = webhook.created_by
    if data.get("memberEmail") is not None:
        email = data["memberEmail"].strip().lower()
        member = Member.get_or_none((Member.organization == webhook.organization_id) & (Member.email == email))
        if member is None:
            raise ValidationFailed({"memberEmail": [
                f"{email} is not a member of this organization (add it: POST /v1/members)."]})
    external_id = data.get("externalId")
    activity_id = (derived_public_id("act_", webhook.id, external_id) if external_id is not None
                   else new_public_id("act_"))
    activity = {
        "id": activity_id, "organization_id": webhook.organization_id, "project_id": webhook.project_id,
        "webhook_id": webhook.id, "member_id": member.id, "member_email": member.email,
        "title": data["title"], "description": data.get("description"), "start_time": data["startTime"],
        "end_time": data.get("endTime"), "trigger": data.get("trigger"), "event": data.get("event"),
        "external_id": external_id, "metadata": data.get("metadata"), "received_at": utcnow(),
    }
    current_app.queues[DEFAULT_QUEUE].enqueue("worker.store_activity", activity,
                                              retry=Retry(max=len(STORE_RETRY), interval=list(STORE_RETRY)))
    return {"id": activity_id, "message": ACCEPTED_MESSAGE}, 202
