"""Storing an accepted Activity (worker side): insert it, or update the one with the same id.

An activity's id is fixed by the request (derived from ingress URL + externalId when there is one), so a
repeat of the same externalId lands on the same row through the primary key: one row, however many
requests race. A version older than the stored one (a job that ran late) never overwrites it. The
outbound event is stored in the same transaction as the activity, so neither exists without the other.
"""

from hookyard.activities.schemas import activity_schema
from hookyard.core.clock import utcnow
from hookyard.core.db import db
from hookyard.outbound.publish import Publisher
from models import Activity, Member

FIELDS = ("title", "description", "start_time", "end_time", "trigger", "event", "member_id", "metadata", "received_at")


def upsert_activity(activity: dict, publisher: Publisher) -> str:
    """Store one accepted activity; return "created", "updated" or "unchanged" (a re-run, or a stale version)."""
    now = utcnow()
    row = {name: activity[name] for name in FIELDS}
    with db.atomic():
        created = (
            Activity.insert(
                id=activity["id"],
                organization=activity["organization_id"],
                project=activity["project_id"],
                ingress_url=activity["webhook_id"],
                external_id=activity["external_id"],
                created_at=now,
                updated_at=now,
                **row,
            )
            .on_conflict_ignore()
            .as_rowcount()
            .execute()
        )
        if created:
            outcome = "created"
        else:
            # Strictly newer only: a re-run of the job that stored this version changes nothing.
            updated = (
                Activity.update(updated_at=now, **row)
                .where((Activity.id == activity["id"]) & (Activity.received_at < activity["received_at"]))
                .execute()
            )
            outcome = "updated" if updated else "unchanged"
        if outcome != "unchanged":
            stored = Activity.select(Activity, Member).join(Member).where(Activity.id == activity["id"]).get()
            publisher.publish_to_subscribers(
                activity["organization_id"], f"activity.{outcome}", activity_schema.dump(stored)
            )
    return outcome
