"""A wall-clock deadline for a whole delivery exchange: connect, send, headers and body together.

urllib3's timeouts bound each socket operation, not the exchange: a receiver that trickles one header byte
every half second holds a send for as long as it likes, past its lease, until a second dispatcher sends
the same delivery again. Here the connections a sender opens register their socket with one watchdog
thread, which shuts down the socket of any exchange still running at its deadline; the blocked read then
fails, and the attempt is recorded as timed out.
"""

import functools
import heapq
import itertools
import socket
import threading
import time

import urllib3

_exchange = threading.local()  # the deadline of the exchange this thread is running, if any


class Exchange:
    """One exchange's deadline, and whether the watchdog had to cut it."""

    __slots__ = ("deadline", "done", "expired", "sockets")

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.sockets: list[socket.socket] = []
        self.done = False
        self.expired = False


class Watchdog:
    """Shuts down the sockets of exchanges that outlive their deadline (one thread for all senders)."""

    def __init__(self):
        self.condition = threading.Condition()
        self.heap: list[tuple[float, int, Exchange]] = []
        self.order = itertools.count()
        threading.Thread(target=self._run, name="delivery-deadlines", daemon=True).start()

    def begin(self, seconds: float) -> Exchange:
        """Start an exchange on this thread that must end within `seconds`."""
        exchange = _exchange.current = Exchange(time.monotonic() + seconds)
        with self.condition:
            heapq.heappush(self.heap, (exchange.deadline, next(self.order), exchange))
            self.condition.notify()
        return exchange

    @staticmethod
    def end(exchange: Exchange) -> None:
        """Mark the exchange finished: its sockets are the pool's again."""
        exchange.done = True
        _exchange.current = None

    def _run(self) -> None:
        while True:
            with self.condition:
                while not self.heap or self.heap[0][0] > time.monotonic():
                    self.condition.wait(None if not self.heap else self.heap[0][0] - time.monotonic())
                _deadline, _order, exchange = heapq.heappop(self.heap)
            if not exchange.done:
                exchange.expired = True
                for sock in exchange.sockets:
                    _cut(sock)


@functools.cache
def watchdog() -> Watchdog:
    """The process's watchdog, started on first use (only the worker sends deliveries)."""
    return Watchdog()


def _cut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


def _watch(connection) -> None:
    """Put a connection's socket under the deadline of the exchange running on this thread."""
    exchange = getattr(_exchange, "current", None)
    if exchange is not None and connection.sock is not None:
        exchange.sockets.append(connection.sock)
        if exchange.expired or time.monotonic() >= exchange.deadline:
            exchange.expired = True
            _cut(connection.sock)


class DeadlineHTTPConnection(urllib3.connection.HTTPConnection):
    def request(self, *args, **kwargs):
        super().request(*args, **kwargs)
        _watch(self)


class DeadlineHTTPSConnection(urllib3.connection.HTTPSConnection):
    def request(self, *args, **kwargs):
        super().request(*args, **kwargs)
        _watch(self)
