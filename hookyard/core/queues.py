"""Redis connections and the RQ queues both processes share."""

import peewee
import redis
from rq import Queue
from rq.timeouts import BaseTimeoutException

INGEST_QUEUE = "ingest"
DELIVERY_QUEUE = "deliveries"
DEFAULT_QUEUE = "default"
# The order a worker serves them in: incoming data first, then outbound deliveries, then the rest.
QUEUE_NAMES = (INGEST_QUEUE, DELIVERY_QUEUE, DEFAULT_QUEUE)
# Errors after which a job must fail and be retried with its claim kept, never set data aside: the
# database is away, or the job ran out of time.
TRANSIENT_ERRORS = (peewee.OperationalError, peewee.InterfaceError, BaseTimeoutException)


def connect_redis(url: str) -> redis.Redis:
    """Return a Redis client that fails fast when the server is away, so requests can answer 503."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30)


def make_queues(connection: redis.Redis) -> dict[str, Queue]:
    """Return the service's RQ queues, by name."""
    return {name: Queue(name, connection=connection) for name in QUEUE_NAMES}
