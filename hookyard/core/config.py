"""Configuration read once from the environment; the same for `make run`, the Procfile and tests."""

import os
from dataclasses import dataclass, fields

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VAR_DIR = os.environ.get("HOOKYARD_VAR_DIR") or os.path.join(ROOT, "var")
LOCAL_KEY_FILE = os.path.join(VAR_DIR, "encryption.key")  # made by `make run` for this checkout only
MAX_RETENTION_DAYS = 36500  # a hundred years: longer is "forever"


def _bool(value: str) -> bool:
    """Read an environment flag: 1/true/yes/on are true."""
    return value.strip().lower() in ("1", "true", "yes", "on")


def _schedule(value: str) -> tuple[int, ...]:
    """Read RETRY_SCHEDULE: seconds between attempts, comma-separated."""
    try:
        steps = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"RETRY_SCHEDULE must be comma-separated seconds, got {value!r}") from None
    if any(step < 0 for step in steps):
        raise ValueError(f"RETRY_SCHEDULE must not hold negative delays, got {value!r}")
    return steps


def _retention_days(value: str) -> int | None:
    """Read a RETENTION_*_DAYS variable: whole days from 1 to 36500, or `forever` (None: kept for ever)."""
    if value.strip().lower() == "forever":
        return None
    try:
        days = int(value)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise ValueError(f"must be whole days from 1 to {MAX_RETENTION_DAYS}, or forever, got {value!r}")
    return days


def _positive(value: str) -> int:
    """Read a whole number of seconds, at least 1."""
    try:
        seconds = int(value)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise ValueError(f"must be whole seconds, at least 1, got {value!r}")
    return seconds


def normalise_database_url(url: str) -> str:
    """Accept Heroku's `postgres://` spelling alongside `postgresql://`."""
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


@dataclass(frozen=True)
class Config:
    database_url: str = f"sqlite:///{os.path.join(VAR_DIR, 'hookyard.db')}"
    redis_url: str = ""
    port: int = 5000
    retry_schedule: tuple[int, ...] = (30, 300, 1800, 7200)
    delivery_timeout: float = 10.0
    webhook_allow_private_networks: bool = False
    max_body_bytes: int = 1024 * 1024
    max_signal_bytes: int = 256 * 1024
    max_batch_bytes: int = 32 * 1024 * 1024
    max_bulk_bytes: int = 128 * 1024 * 1024
    worker_heartbeat_ttl: int = 20
    worker_maintenance_interval: int = 30
    redis_prefix: str = "hy"
    encryption_key: str = ""  # Fernet key(s) sealing webhook secrets; no default that could reach production
    public_url: str = ""  # how senders reach this service, for the URLs it hands out; default: the request's host
    trusted_proxy_hops: int = 0  # proxies in front whose X-Forwarded-For/-Proto to believe (Heroku's router: 1)
    # Days to keep each kind of data unless an organization says otherwise (None: for ever); see ops/retention.py.
    retention_signal_payload_days: int | None = 90
    retention_flow_event_payload_days: int | None = 90
    retention_delivery_history_days: int | None = 90
    retention_activity_days: int | None = None
    retention_purge_interval: int = 3600  # seconds between purges

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Config":
        """Build the configuration from environment variables, then explicit overrides."""
        env = os.environ if environ is None else environ
        readers = {
            "database_url": ("DATABASE_URL", normalise_database_url),
            "redis_url": ("REDIS_URL", str),
            "port": ("PORT", int),
            "retry_schedule": ("RETRY_SCHEDULE", _schedule),
            "delivery_timeout": ("DELIVERY_TIMEOUT", float),
            "webhook_allow_private_networks": ("WEBHOOK_ALLOW_PRIVATE_NETWORKS", _bool),
            "max_body_bytes": ("MAX_BODY_BYTES", int),
            "max_signal_bytes": ("MAX_SIGNAL_BYTES", int),
            "max_batch_bytes": ("MAX_BATCH_BYTES", int),
            "max_bulk_bytes": ("MAX_BULK_BYTES", int),
            "worker_heartbeat_ttl": ("WORKER_HEARTBEAT_TTL", int),
            "worker_maintenance_interval": ("WORKER_MAINTENANCE_INTERVAL", int),
            "redis_prefix": ("HOOKYARD_REDIS_PREFIX", str),
            "encryption_key": ("HOOKYARD_ENCRYPTION_KEY", str),
            "public_url": ("PUBLIC_URL", lambda value: value.rstrip("/")),
            "trusted_proxy_hops": ("TRUSTED_PROXY_HOPS", int),
            "retention_signal_payload_days": ("RETENTION_SIGNAL_PAYLOAD_DAYS", _retention_days),
            "retention_flow_event_payload_days": ("RETENTION_FLOW_EVENT_PAYLOAD_DAYS", _retention_days),
            "retention_delivery_history_days": ("RETENTION_DELIVERY_HISTORY_DAYS", _retention_days),
            "retention_activity_days": ("RETENTION_ACTIVITY_DAYS", _retention_days),
            "retention_purge_interval": ("RETENTION_PURGE_INTERVAL", _positive),
        }
        values = {}
        for name, (variable, read) in readers.items():
            raw = env.get(variable)
            if raw not in (None, ""):
                try:
                    values[name] = read(raw)
                except ValueError as error:
                    raise ValueError(f"{variable}: {error}") from None
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown configuration keys: {sorted(unknown)!r}")
        values.update(overrides)
        return cls(**values)
