"""Activity jobs (worker side): store an Activity accepted at its ingress URL."""

from rq import Retry

from hookyard.activities.store import upsert_activity
from hookyard.core import jobs
from hookyard.outbound.jobs import dispatch_published
from hookyard.outbound.publish import Publisher

# The database may be briefly away when the job runs; the job waits and tries again rather than fail.
STORE_RETRY = (1, 5, 30, 120, 600)


def store_retry() -> Retry:
    """RQ's retry for store_activity: on the STORE_RETRY schedule, through RQ's scheduler."""
    return Retry(max=len(STORE_RETRY), interval=list(STORE_RETRY))


def store_activity(activity: dict) -> str:
    """Store an activity accepted at /webhooks/ingress/<token>; publish activity.created or .updated."""
    context = jobs.current()
    publisher = Publisher(context.max_attempts)
    outcome = upsert_activity(activity, publisher)
    dispatch_published(context, publisher)
    return outcome
