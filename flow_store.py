"""Storing flow events (worker side): log each one, fan out the originals as `flow.<event>`.

A job may run twice (at-least-once queues): the event's id is fixed by the request, so a second run
finds it stored and does nothing. Two copies of one sender event (same dedupe key) race on a unique
index; the loser is logged as a duplicate of the winner and not published. The log row and the
outbound event with its deliveries commit together.
"""

import datetime

from events import publish, subscribers
from models import FlowEvent, db, utcnow


def _stored_original(flow_id: str, dedupe_key: str) -> str | None:
    return (FlowEvent.select(FlowEvent.id).where((FlowEvent.flow == flow_id) & (FlowEvent.dedupe_key == dedupe_key)
                                                 & (FlowEvent.duplicate == False))  # noqa: E712
            .scalar())


def store_flow_event(envelope: dict, max_attempts: int) -> tuple[FlowEvent | None, bool]:
    """Store one accepted flow event; return it and whether it was published (False on a re-run)."""
    received_at = datetime.datetime.fromisoformat(envelope["received_at"])
    with db.atomic():
        if FlowEvent.get_or_none(FlowEvent.id == envelope["id"]) is not None:
            return None, False  # stored by an earlier run of this job
        now = utcnow()
        row = {"id": envelope["id"], "organization": envelope["organization_id"], "flow": envelope["flow_id"],
               "event": envelope["event"], "source": envelope["source"], "verified": envelope["verified"],
               "dedupe_key": envelope["dedupe_key"], "data": envelope["data"], "received_at": received_at,
               "received_minute": int(received_at.replace(tzinfo=datetime.UTC).timestamp()) // 60,
               "processed_at": now, "latency_ms": max(0, int((now - received_at).total_seconds() * 1000))}
        original = envelope.get("duplicate_of")
        if original is None:
            inserted = (FlowEvent.insert(**row, duplicate=False, status="processed").on_conflict_ignore()
                        .as_rowcount().execute())
            if inserted:
                event_type = f"flow.{envelope['event']}"
                targets = subscribers(envelope["organization_id"], event_type)
                if not targets:
                    return FlowEvent.get_by_id(envelope["id"]), False
                outbound = publish(envelope["organization_id"], event_type, {
                    "flow_id": envelope["flow_id"], "flow_event_id": envelope["id"], "event": envelope["event"],
                    "source": envelope["source"], "verified": envelope["verified"],
                    "received_at": received_at.isoformat(timespec="milliseconds") + "Z", "payload": envelope["data"]},
                    endpoints=targets, max_attempts=max_attempts)
                FlowEvent.update(outbound_event_id=outbound.id).where(FlowEvent.id == envelope["id"]).execute()
                return FlowEvent.get_by_id(envelope["id"]), True
            original = _stored_original(envelope["flow_id"], envelope["dedupe_key"])
        FlowEvent.insert(**row, duplicate=True, duplicate_of=original, status="duplicate").execute()
    return FlowEvent.get_by_id(envelope["id"]), False
