"""What a signal says about itself: its source, email, identities, event name and dedupe key.

Pure functions over a parsed JSON object, shared by the web process (to answer `source` and
`cold_storage` at receipt) and the worker (to store and attribute). No I/O here.
"""

import datetime
import hashlib
import re
from dataclasses import dataclass

import orjson

SEGMENT_TYPES = frozenset(("identify", "track", "page", "screen", "group", "alias", "delete"))
SEGMENT_EVENT_NAMES = {
    "page": "page_view",
    "screen": "screen_view",
    "identify": "identify",
    "group": "group",
    "alias": "alias",
    "delete": "delete",
}
EMAIL_PATHS = (("email",), ("traits", "email"), ("context", "traits", "email"), ("properties", "email"))
SOURCE_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_FIELD = 255


@dataclass(frozen=True)
class SignalFields:
    source: str
    event: str | None
    email: str | None
    anonymous_id: str | None
    user_id: str | None
    segment_type: str | None

    @property
    def identities(self) -> list[tuple[str, str]]:
        """The (kind, value) identities this signal carries."""
        found = []
        if self.anonymous_id:
            found.append(("anonymous_id", self.anonymous_id))
        if self.user_id:
            found.append(("user_id", self.user_id))
        return found


def is_valid_source(slug: str) -> bool:
    """Tell whether a source slug is lower-case letters, digits, `_` and `-` (at most 64)."""
    return bool(SOURCE_SLUG.fullmatch(slug))


def is_segment(payload: dict) -> bool:
    """Tell whether a payload is a Segment call: a known `type` and an anonymousId or userId.

    A `messageId` is not required: Segment's own HTTP API examples leave it out.
    """
    return payload.get("type") in SEGMENT_TYPES and bool(
        identifier(payload.get("anonymousId")) or identifier(payload.get("userId"))
    )


def detect_source(payload: dict, url_source: str | None, header_source: str | None) -> str:
    """Return the signal's source: X-Source, else `segment` if it is one, else the URL's, else `generic`."""
    if header_source:
        return header_source
    if is_segment(payload):
        return "segment"
    return url_source or "generic"


def identifier(value) -> str | None:
    """Return an anonymousId/userId as text (Segment allows numbers), or None when absent."""
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        return None
    return str(value)[:MAX_FIELD]


def find_email(payload: dict) -> str | None:
    """Return the first email found at email, traits.email, context.traits.email or properties.email."""
    for path in EMAIL_PATHS:
        node = payload
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, str) and "@" in node:
            return node.strip().lower()[:320]
    return None


def event_name(payload: dict) -> str | None:
    """Return the event name: `event`, or the Segment call's own name for page/screen/identify/..."""
    event = payload.get("event")
    if isinstance(event, str) and event:
        return event[:MAX_FIELD]
    call = payload.get("type")
    if isinstance(call, str):
        return SEGMENT_EVENT_NAMES.get(call)
    return None


def read_fields(payload: dict, source: str) -> SignalFields:
    """Extract what Hookyard indexes from a signal payload."""
    return SignalFields(
        source=source,
        event=event_name(payload),
        email=find_email(payload),
        anonymous_id=identifier(payload.get("anonymousId")),
        user_id=identifier(payload.get("userId")),
        segment_type=payload["type"] if is_segment(payload) else None,
    )


def dedupe_key(payload: dict) -> str:
    """Return the key duplicates share: a Segment call's messageId, else a hash of the canonical JSON."""
    if is_segment(payload) and identifier(payload.get("messageId")):
        return "seg:" + str(payload["messageId"])[:70]
    canonical = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


SENDER_TIME_FIELDS = ("timestamp", "originalTimestamp")
EARLIEST = datetime.datetime(1970, 1, 1)
LATEST = datetime.datetime(9000, 1, 1)


def sender_time(payload: dict) -> datetime.datetime | None:
    """Return when the sender says the call happened (Segment's `timestamp`, else `originalTimestamp`), in
    naive UTC; None when neither is an ISO 8601 time with a zone between 1970 and 9000."""
    for name in SENDER_TIME_FIELDS:
        value = payload.get(name)
        if not isinstance(value, str) or len(value) > 64:
            continue
        try:
            when = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is None:
            continue
        try:
            when = when.astimezone(datetime.UTC).replace(tzinfo=None)
        except OverflowError:
            continue
        if EARLIEST <= when < LATEST:
            return when
    return None
