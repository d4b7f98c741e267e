"""Sending deliveries (worker side): many at once from one job, each retry state kept in its row.

The dispatcher claims due deliveries (a lease in the row, so two dispatchers never send the same one),
sends them from a thread pool, records every attempt, and schedules the next retry in the row. Slots
refill as soon as any request ends; one endpoint holds at most PER_ENDPOINT of them (an equal share
when many endpoints compete), so an endpoint that hangs until the timeout slows only itself. When
the job ends it asks RQ's scheduler to run it again when the next retry is due.
"""

import datetime
import logging
import time
from collections import defaultdict, deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

import urllib3
from peewee import fn

from hookyard.core.clock import utcnow
from hookyard.core.credentials import SecretBox
from hookyard.core.db import db, insert_rows
from hookyard.core.jobs import SHUTDOWN
from hookyard.outbound.deadline import DeadlineHTTPConnection, DeadlineHTTPSConnection, watchdog
from hookyard.outbound.health import RoundHealth
from hookyard.outbound.signing import signature_headers
from hookyard.outbound.url_safety import UnsafeUrl, check_url
from models import Delivery, DeliveryAttempt, Endpoint, Event

logger = logging.getLogger(__name__)

USER_AGENT = "Hookyard/0.1.0"
# A request that waits on a slow receiver costs a thread and a socket, not CPU; so the pool is larger
# than one endpoint may use, and a hanging endpoint's requests do not take slots from the others.
MAX_IN_FLIGHT = 256  # requests in flight from one dispatcher
PER_ENDPOINT = 64  # most requests in flight to one endpoint
MIN_SHARE = 4  # in-flight requests an endpoint may always hold when many endpoints share the pool
CLAIM_EVERY = 0.02  # seconds between claims while requests are in flight
CLAIM_BATCH = 256  # deliveries leased per claim: the claim query costs about the same for 1 or 256
MAX_RESPONSE_BYTES = 64 * 1024
KEPT_RESPONSE_BYTES = 2048
LEASE_MARGIN = 30  # seconds past the timeout before another dispatcher may take a delivery over
JOB_BUDGET = 60  # seconds a dispatch job runs before it hands over to a fresh one


@dataclass
class Prepared:
    delivery_id: str
    endpoint_id: str
    event_id: str
    attempt: int
    max_attempts: int
    url: str
    body: bytes
    secrets: list[str]
    organization_id: int
    event_type: str
    lease_ends: float = 0.0  # time.monotonic() at which another dispatcher may take this delivery


@dataclass
class Outcome:
    started_at: datetime.datetime
    duration_ms: int
    status_code: int | None = None
    response: str | None = None
    error: str | None = None
    failure: str | None = None  # what ended an exchange without an answer: timeout, connection_error, refused

    @property
    def succeeded(self) -> bool:
        """A 2xx whose exchange completed: headers and body within the deadline."""
        return self.status_code is not None and 200 <= self.status_code < 300 and self.error is None

    @property
    def result(self) -> str:
        """The attempt's outcome as metrics count it: success, http_error, or how the exchange failed."""
        if self.succeeded:
            return "success"
        return self.failure or ("http_error" if self.status_code is not None else "connection_error")


class Sender:
    """Posts signed deliveries to checked addresses over kept-alive connections, under a wall-clock deadline."""

    def __init__(self, timeout: float, allow_private: bool):
        self.timeout = timeout
        self.allow_private = allow_private
        self.pools: dict[tuple, urllib3.HTTPConnectionPool] = {}

    def _pool(self, target) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, target.address, target.port, target.host)
        pool = self.pools.get(key)
        if pool is None:
            if len(self.pools) > 1000:
                self.pools.clear()
            options = {"maxsize": PER_ENDPOINT, "retries": False, "block": False}
            if target.scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    target.address, target.port, server_hostname=target.host, assert_hostname=target.host, **options
                )
                pool.ConnectionCls = DeadlineHTTPSConnection
            else:
                pool = urllib3.HTTPConnectionPool(target.address, target.port, **options)
                pool.ConnectionCls = DeadlineHTTPConnection
            self.pools[key] = pool
        return pool

    def send(self, prepared: Prepared) -> Outcome:
        """Deliver once; never raises."""
        started_at, clock = utcnow(), time.monotonic()
        deadline = clock + self.timeout
        outcome = Outcome(started_at=started_at, duration_ms=0)
        exchange = watchdog().begin(self.timeout)
        try:
            target = check_url(prepared.url, self.allow_private)  # again now: DNS may have changed
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
                **signature_headers(prepared.secrets, prepared.event_id, int(time.time()), prepared.body),
            }
            response = self._pool(target).urlopen(
                "POST",
                target.path,
                body=prepared.body,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                timeout=urllib3.Timeout(total=self.timeout),
            )
            try:
                outcome.status_code = response.status
                outcome.response = _read_limited(response, deadline).decode("utf-8", "replace")[:KEPT_RESPONSE_BYTES]
            finally:
                watchdog().end(exchange)  # before the connection goes back to the pool
                response.release_conn()
            if 300 <= response.status < 400:
                outcome.error = f"redirect to {response.headers.get('Location')!r} not followed"
        except UnsafeUrl as error:
            outcome.error, outcome.failure = f"refused: {error}", "refused"
        except (urllib3.exceptions.HTTPError, OSError) as error:
            outcome.error = f"{type(error).__name__}: {error}"[:500]
            # urllib3's NewConnectionError (refused, unreachable) is a TimeoutError subclass, for history's sake.
            timed_out = isinstance(error, (TimeoutError, urllib3.exceptions.TimeoutError))
            refused = isinstance(error, urllib3.exceptions.NewConnectionError)
            outcome.failure = "timeout" if timed_out and not refused else "connection_error"
        finally:
            watchdog().end(exchange)
        if exchange.expired:
            outcome.error = f"timed out: the exchange did not complete within DELIVERY_TIMEOUT ({self.timeout:g} s)"
            outcome.failure = "timeout"
        outcome.duration_ms = int((time.monotonic() - clock) * 1000)
        return outcome


def _read_limited(response, deadline: float) -> bytes:
    """Read at most MAX_RESPONSE_BYTES, giving up when the wall-clock deadline passes."""
    chunks, size = [], 0
    sock = getattr(getattr(response, "connection", None), "sock", None)
    while size < MAX_RESPONSE_BYTES:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the response was still arriving at the deadline")
        if sock is not None:
            sock.settimeout(remaining)
        chunk = response.read(min(16384, MAX_RESPONSE_BYTES - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class Dispatcher:
    """Claims due deliveries, sends them concurrently, records the outcomes.

    `observe`, when given, is called with (outcome, seconds) of each round of attempts once it is stored.
    """

    def __init__(
        self, box: SecretBox, retry_schedule: tuple[int, ...], timeout: float, allow_private: bool, observe=None
    ):
        self.box = box
        self.retry_schedule = retry_schedule
        self.timeout = timeout
        self.sender = Sender(timeout, allow_private)
        self.secrets: dict[str, list[str]] = {}
        self.sent: dict[str, int] = defaultdict(int)  # attempts by outcome
        self.observe = observe

    def run(self, budget: float = JOB_BUDGET) -> datetime.datetime | None:
        """Send what is due until nothing is, or the budget is spent; return when the next retry is due."""
        stop_at = time.monotonic() + budget
        ready: dict[str, deque] = defaultdict(deque)  # leased, waiting for a slot
        in_flight: dict = {}
        per_endpoint: dict[str, int] = defaultdict(int)
        claimed_at = 0.0
        with ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix="delivery") as pool:
            while True:
                now = time.monotonic()
                # An endpoint with a full queue of its own (it hangs, or has a backlog) must not stop the
                # claiming of other endpoints' work: it is left out of the claim, and out of the count.
                full = [endpoint for endpoint, queue in ready.items() if len(queue) >= PER_ENDPOINT]
                waiting = sum(len(queue) for queue in ready.values() if len(queue) < PER_ENDPOINT)
                may_claim = now < stop_at and not SHUTDOWN.is_set() and waiting < MAX_IN_FLIGHT
                if may_claim and (not in_flight or now - claimed_at >= CLAIM_EVERY):
                    claimed_at = now
                    for prepared in self._claim(exclude=full):
                        ready[prepared.endpoint_id].append(prepared)
                if not SHUTDOWN.is_set():
                    self._fill_slots(pool, ready, in_flight, per_endpoint)
                if not in_flight:
                    break
                done, _ = wait(in_flight, timeout=0.05, return_when=FIRST_COMPLETED)
                results = []
                for future in done:
                    prepared = in_flight.pop(future)
                    per_endpoint[prepared.endpoint_id] -= 1
                    results.append((prepared, future.result()))
                if results:
                    self._record(results)
        self._release([p.delivery_id for queue in ready.values() for p in queue])
        return self._next_due()

    def _fill_slots(self, pool, ready: dict, in_flight: dict, per_endpoint: dict) -> None:
        """Start sends, round robin, each endpoint within its share of the slots."""
        active = {endpoint for endpoint, queue in ready.items() if queue} | {e for e, n in per_endpoint.items() if n}
        share = max(MIN_SHARE, min(PER_ENDPOINT, MAX_IN_FLIGHT // max(1, len(active))))
        # A send must end before its lease does; one that waited too long goes back to be claimed afresh.
        latest_start = time.monotonic() + self.timeout + 1
        expiring = []
        progress = True
        while progress and len(in_flight) < MAX_IN_FLIGHT:
            progress = False
            for endpoint_id, queue in ready.items():
                if queue and per_endpoint[endpoint_id] < share and len(in_flight) < MAX_IN_FLIGHT:
                    prepared = queue.popleft()
                    progress = True
                    if prepared.lease_ends < latest_start:
                        expiring.append(prepared.delivery_id)
                        continue
                    in_flight[pool.submit(self.sender.send, prepared)] = prepared
                    per_endpoint[endpoint_id] += 1
        self._release(expiring)

    def _claim(self, exclude: list[str]) -> list[Prepared]:
        """Lease a batch of due deliveries, the oldest few of each endpoint, so no backlog hides another's work."""
        now = utcnow()
        due = (
            Delivery.status.in_(("pending", "retrying"))
            & (Delivery.next_attempt_at <= now)
            & (Delivery.lease_until.is_null() | (Delivery.lease_until < now))
        )
        if exclude:
            due &= Delivery.endpoint.not_in(exclude)
        rank = fn.ROW_NUMBER().over(partition_by=[Delivery.endpoint], order_by=[Delivery.next_attempt_at])
        ranked = Delivery.select(Delivery.id, Delivery.next_attempt_at, rank.alias("rank")).where(due)
        chosen = list(
            Delivery.select(ranked.c.id)
            .from_(ranked)
            .where(ranked.c.rank <= PER_ENDPOINT)
            .order_by(ranked.c.next_attempt_at)
            .limit(CLAIM_BATCH)
            .scalars()
        )
        if not chosen:
            return []
        lease_seconds = self.timeout + LEASE_MARGIN
        lease, lease_ends = now + datetime.timedelta(seconds=lease_seconds), time.monotonic() + lease_seconds
        with db.atomic():
            # RETURNING tells which rows this dispatcher won when another claims at the same moment.
            won = [
                row.id
                for row in Delivery.update(lease_until=lease)
                .where(Delivery.id.in_(chosen) & (Delivery.lease_until.is_null() | (Delivery.lease_until < now)))
                .returning(Delivery.id)
            ]
        prepared = self._prepare(won)
        for item in prepared:
            item.lease_ends = lease_ends
        return prepared

    def _release(self, delivery_ids: list[str]) -> None:
        """Give back leases this dispatcher will not use (its budget ran out)."""
        if delivery_ids:
            Delivery.update(lease_until=None).where(Delivery.id.in_(delivery_ids)).execute()

    def _prepare(self, delivery_ids: list[str]) -> list[Prepared]:
        rows = (
            Delivery.select(Delivery, Endpoint, Event)
            .join(Endpoint)
            .switch(Delivery)
            .join(Event)
            .where(Delivery.id.in_(delivery_ids))
        )
        prepared, disabled = [], []
        for delivery in rows:
            endpoint = delivery.endpoint
            if not endpoint.active:
                disabled.append(delivery.id)
                continue
            prepared.append(
                Prepared(
                    delivery.id,
                    endpoint.id,
                    delivery.event_id,
                    delivery.attempts + 1,
                    delivery.max_attempts,
                    endpoint.url,
                    delivery.event.body.encode(),
                    self._secrets_of(endpoint),
                    delivery.organization_id,
                    delivery.event.type,
                )
            )
        if disabled:
            Delivery.update(status="failed", error="endpoint disabled", lease_until=None, next_attempt_at=None).where(
                Delivery.id.in_(disabled)
            ).execute()
        return prepared

    def _secrets_of(self, endpoint: Endpoint) -> list[str]:
        """The secrets to sign with: the current one, and the previous one until it expires."""
        key = f"{endpoint.id}:{endpoint.updated_at}"
        if key not in self.secrets:
            found = [self.box.open(endpoint.secret_encrypted)]
            if (
                endpoint.previous_secret_encrypted
                and endpoint.previous_secret_expires_at
                and endpoint.previous_secret_expires_at > utcnow()
            ):
                found.append(self.box.open(endpoint.previous_secret_encrypted))
            self.secrets[key] = found
        return self.secrets[key]

    def _record(self, results: list[tuple[Prepared, Outcome]]) -> None:
        """Store each attempt and move each delivery on: success, a scheduled retry, or failed."""
        now = utcnow()
        health = RoundHealth(now, 1 + len(self.retry_schedule))
        with db.atomic():
            insert_rows(
                DeliveryAttempt,
                [
                    {
                        "delivery": p.delivery_id,
                        "number": p.attempt,
                        "started_at": o.started_at,
                        "duration_ms": o.duration_ms,
                        "status_code": o.status_code,
                        "response_body": o.response,
                        "error": o.error,
                    }
                    for p, o in results
                ],
            )
            for prepared, outcome in results:
                self.sent[outcome.result] += 1
                changes = {
                    "attempts": prepared.attempt,
                    "status_code": outcome.status_code,
                    "lease_until": None,
                    "error": outcome.error,
                }
                if outcome.succeeded:
                    changes.update(status="success", delivered_at=now, next_attempt_at=None, error=None)
                elif outcome.status_code == 410:
                    changes.update(status="failed", next_attempt_at=None, error="410 Gone: endpoint disabled")
                else:
                    changes.update(self._after_failure(prepared, now))
                    changes["error"] = outcome.error or f"HTTP {outcome.status_code}"
                Delivery.update(**changes).where(Delivery.id == prepared.delivery_id).execute()
                health.note(prepared, outcome.succeeded, outcome.status_code == 410,
                            {"id": prepared.delivery_id, **changes})  # fmt: skip
            health.apply()
        if self.observe is not None:
            self.observe([(outcome.result, outcome.duration_ms / 1000) for _, outcome in results])

    def _after_failure(self, prepared: Prepared, now: datetime.datetime) -> dict:
        """Fail for good after the last attempt; else wait the schedule's step for this attempt."""
        if prepared.attempt >= prepared.max_attempts:
            return {"status": "failed", "next_attempt_at": None}
        step = min(prepared.attempt, len(self.retry_schedule)) - 1
        wait_seconds = self.retry_schedule[step] if self.retry_schedule else 0
        return {"status": "retrying", "next_attempt_at": now + datetime.timedelta(seconds=wait_seconds)}

    def _next_due(self) -> datetime.datetime | None:
        return (
            Delivery.select(Delivery.next_attempt_at)
            .where(Delivery.status.in_(("pending", "retrying")) & Delivery.next_attempt_at.is_null(False))
            .order_by(Delivery.next_attempt_at)
            .limit(1)
            .scalar()
        )
