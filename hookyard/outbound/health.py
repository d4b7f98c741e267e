"""What a round of delivery attempts means for the endpoints: failing since when, disabled, deliveries exhausted.

The dispatcher notes each attempt's outcome here and applies the round in the transaction that records the
attempts, so the endpoint's state and the operational events about it commit together or not at all.
- One success resets an endpoint's failure clock (`failing_since`); a failure starts it if it is not running.
- An endpoint whose clock has run for DISABLE_AFTER (5 days) is disabled at its next failure, and one that
  answers 410 Gone is disabled at once: `webhook.disabled`.
- A delivery that failed its last attempt: `delivery.exhausted`, except for a delivery of an operational event
  (a subscriber that is down must not start a loop).
"""

import datetime
from dataclasses import dataclass, field

from hookyard.core.clock import iso_z
from hookyard.outbound.event_types import OPERATIONAL_TYPES
from hookyard.outbound.operational import DISABLE_AFTER, disabled_data, exhausted_data, publish_operational
from models import Endpoint


@dataclass
class RoundHealth:
    """One round's outcomes by endpoint, and the deliveries it exhausted; `apply` acts on them."""

    now: datetime.datetime
    max_attempts: int
    succeeded: set = field(default_factory=set)
    failed: set = field(default_factory=set)
    gone: set = field(default_factory=set)
    exhausted: list = field(default_factory=list)

    def note(self, prepared, succeeded: bool, gone: bool, delivery: dict) -> None:
        """Note one attempt: `delivery` is the delivery's new state (its id, status, attempts, code, error)."""
        (self.succeeded if succeeded else self.failed).add(prepared.endpoint_id)
        if gone:
            self.gone.add(prepared.endpoint_id)
        if delivery["status"] == "failed" and prepared.event_type not in OPERATIONAL_TYPES:
            data = exhausted_data(delivery, prepared.endpoint_id, prepared.event_id, prepared.event_type)
            self.exhausted.append((prepared.organization_id, data))

    def apply(self) -> None:
        """Move the failure clocks, disable who must be, publish the events: in the caller's transaction."""
        if self.succeeded:
            Endpoint.update(failing_since=None).where(
                Endpoint.id.in_(sorted(self.succeeded)) & Endpoint.failing_since.is_null(False)
            ).execute()
        failing = sorted(self.failed - self.succeeded)
        if failing:
            Endpoint.update(failing_since=self.now).where(
                Endpoint.id.in_(failing) & Endpoint.failing_since.is_null()
            ).execute()
            overdue = Endpoint.select().where(
                Endpoint.id.in_(failing) & Endpoint.active & (Endpoint.failing_since <= self.now - DISABLE_AFTER)
            )
            for endpoint in overdue:
                days = DISABLE_AFTER.days
                self._disable(endpoint, f"failed every attempt for {days} days (since {iso_z(endpoint.failing_since)})")
        if self.gone:
            for endpoint in Endpoint.select().where(Endpoint.id.in_(sorted(self.gone)) & Endpoint.active):
                self._disable(endpoint, f"answered 410 Gone at {iso_z(self.now)}")
        for organization_id, data in self.exhausted:
            publish_operational(organization_id, "delivery.exhausted", data, data["delivery_id"], self.max_attempts)

    def _disable(self, endpoint: Endpoint, reason: str) -> None:
        changed = (
            Endpoint.update(active=False, disabled_reason=reason, updated_at=self.now)
            .where((Endpoint.id == endpoint.id) & Endpoint.active)
            .execute()
        )
        if changed:
            data = disabled_data(endpoint.id, endpoint.url, reason, self.now)
            publish_operational(endpoint.organization_id, "webhook.disabled", data, f"{endpoint.id}:{iso_z(self.now)}",
                                self.max_attempts)  # fmt: skip
