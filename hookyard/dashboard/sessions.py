"""Dashboard sessions and sign-in throttling, kept in Redis.

The browser holds a random session id in Flask's signed, HttpOnly cookie; Redis holds what it stands for,
so signing out ends it for good and a password change ends every session of that person.
"""

import datetime
import hashlib
import secrets
import time
from dataclasses import dataclass

SESSION_SECONDS = 12 * 3600  # idle time before a session ends; each request (not a live refresh) renews it
MAX_SESSION_SECONDS = 24 * 3600  # a session ends this long after sign-in, however busy
THROTTLE_WINDOW = 15 * 60
MAX_ATTEMPTS_PER_ACCOUNT = 10  # failed sign-ins per address per window
MAX_ATTEMPTS_PER_ADDRESS = 50  # failed sign-ins per client IP per window


@dataclass(frozen=True)
class Session:
    member_id: str
    organization_id: int
    role: str
    started: datetime.datetime  # naive UTC, to compare with the member's password_changed_at


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Sessions:
    def __init__(self, redis, prefix: str):
        self.redis = redis
        self.prefix = prefix

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}:dash:session:{_digest(session_id)}"

    def _of_member(self, member_id: str) -> str:
        return f"{self.prefix}:dash:member-sessions:{member_id}"

    def start(self, member_id: str, organization_id: int, role: str) -> str:
        """Start a session and return its id (for the cookie; Redis keeps only its hash)."""
        session_id = secrets.token_urlsafe(32)
        key = self._key(session_id)
        with self.redis.pipeline() as pipe:
            pipe.hset(key, mapping={"member": member_id, "org": organization_id, "role": role, "at": time.time()})
            pipe.expire(key, SESSION_SECONDS)
            pipe.sadd(self._of_member(member_id), key)
            pipe.expire(self._of_member(member_id), SESSION_SECONDS)
            pipe.execute()
        return session_id

    def get(self, session_id: str | None, renew: bool = True) -> Session | None:
        """Return the live session an id stands for (renewing its idle time unless told not to), or None."""
        if not session_id:
            return None
        key = self._key(session_id)
        stored = self.redis.hgetall(key)
        if not stored or b"at" not in stored:
            return None
        started = float(stored[b"at"])
        if time.time() - started > MAX_SESSION_SECONDS:
            self.redis.delete(key)
            return None
        if renew:
            self.redis.expire(key, SESSION_SECONDS)
        moment = datetime.datetime.fromtimestamp(started, datetime.UTC).replace(tzinfo=None)
        return Session(stored[b"member"].decode(), int(stored[b"org"]), stored[b"role"].decode(), moment)

    def end(self, session_id: str | None) -> None:
        if session_id:
            self.redis.delete(self._key(session_id))

    def end_all(self, member_id: str) -> None:
        """End every session of a person (after a password change, or when their access is removed)."""
        keys = self.redis.smembers(self._of_member(member_id))
        self.redis.delete(self._of_member(member_id), *keys)

    # --- throttling failed sign-ins ------------------------------------------------------------------

    def _attempt_keys(self, email: str, address: str) -> tuple[str, str]:
        return (
            f"{self.prefix}:dash:sign-in:account:{_digest(email.strip().lower())}",
            f"{self.prefix}:dash:sign-in:address:{_digest(address)}",
        )

    def attempt(self, email: str, address: str) -> int:
        """Count a sign-in attempt against the address and the client, before the password is checked (so
        parallel guesses are counted too); return the seconds to wait if either is over its limit, else 0."""
        account, client = self._attempt_keys(email, address)
        with self.redis.pipeline() as pipe:  # MULTI: the counts and their windows together
            for key in (account, client):
                pipe.set(key, 0, ex=THROTTLE_WINDOW, nx=True)  # a window starts with the first attempt
                pipe.incr(key)
                pipe.ttl(key)
            _, account_count, account_ttl, _, client_count, client_ttl = pipe.execute()
        waits = []
        if account_count > MAX_ATTEMPTS_PER_ACCOUNT:
            waits.append(account_ttl)
        if client_count > MAX_ATTEMPTS_PER_ADDRESS:
            waits.append(client_ttl)
        return max([max(wait, 1) for wait in waits], default=0)

    def succeeded(self, email: str, address: str) -> None:
        """Forget an address's attempts once its owner has signed in, and this one of the client's."""
        account, client = self._attempt_keys(email, address)
        with self.redis.pipeline() as pipe:
            pipe.delete(account)
            pipe.decr(client)
            pipe.execute()
