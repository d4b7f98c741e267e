"""Dashboard sessions and sign-in throttling, kept in Redis.

The browser holds a random session id in Flask's signed, HttpOnly cookie; Redis holds what it stands for,
so signing out ends it for good and a password change ends every session of that person.
"""

import hashlib
import secrets
from dataclasses import dataclass

SESSION_SECONDS = 12 * 3600  # idle time before a session ends; each request starts the clock again
THROTTLE_WINDOW = 15 * 60
MAX_ATTEMPTS_PER_ACCOUNT = 10  # failed sign-ins per address per window
MAX_ATTEMPTS_PER_ADDRESS = 50  # failed sign-ins per client IP per window


@dataclass(frozen=True)
class Session:
    member_id: str
    organization_id: int
    role: str


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
            pipe.hset(key, mapping={"member": member_id, "org": organization_id, "role": role})
            pipe.expire(key, SESSION_SECONDS)
            pipe.sadd(self._of_member(member_id), key)
            pipe.expire(self._of_member(member_id), SESSION_SECONDS)
            pipe.execute()
        return session_id

    def get(self, session_id: str | None) -> Session | None:
        """Return the live session an id stands for (and keep it alive), or None."""
        if not session_id:
            return None
        key = self._key(session_id)
        with self.redis.pipeline() as pipe:
            pipe.hgetall(key)
            pipe.expire(key, SESSION_SECONDS)
            stored, _ = pipe.execute()
        if not stored:
            return None
        return Session(stored[b"member"].decode(), int(stored[b"org"]), stored[b"role"].decode())

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

    def throttled_for(self, email: str, address: str) -> int:
        """Return the seconds to wait before signing in again with this address from this client, or 0."""
        account, client = self._attempt_keys(email, address)
        with self.redis.pipeline() as pipe:
            pipe.get(account)
            pipe.ttl(account)
            pipe.get(client)
            pipe.ttl(client)
            account_count, account_ttl, client_count, client_ttl = pipe.execute()
        waits = []
        if int(account_count or 0) >= MAX_ATTEMPTS_PER_ACCOUNT:
            waits.append(account_ttl)
        if int(client_count or 0) >= MAX_ATTEMPTS_PER_ADDRESS:
            waits.append(client_ttl)
        return max([max(wait, 1) for wait in waits], default=0)

    def failed(self, email: str, address: str) -> None:
        """Count a failed sign-in against the address and the client."""
        with self.redis.pipeline() as pipe:
            for key in self._attempt_keys(email, address):
                pipe.incr(key)
                pipe.expire(key, THROTTLE_WINDOW, nx=True)
            pipe.execute()

    def succeeded(self, email: str, address: str) -> None:
        """Forget an address's failed attempts once its owner has signed in."""
        self.redis.delete(self._attempt_keys(email, address)[0])
