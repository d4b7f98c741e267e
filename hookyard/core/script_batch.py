"""Group commit for a Redis Lua script: concurrent calls in one web process share one round trip.

Under gunicorn's gevent worker a web process serves many requests at once, and a blocking round
trip per request costs more CPU than validating the request (bench/ingest.py). So calls queue up
while the previous round trip is in flight, and one greenlet sends them all as one pipeline: under
load each round trip carries every call that arrived during the last one; when idle, a call goes
alone at once. Each call is still its own EVALSHA, so its result is exactly what it would have been
alone, and a failing round trip fails only the calls it carried. Used only under gevent
(greenlets.script_caller); elsewhere calls go straight through redis-py.

Nothing is retried: a call whose answer was lost may have run, and these scripts count and queue.
The caller answers 503 and the sender retries; the worker's dedupe makes the repeat a duplicate.
"""

import contextlib
import copy
import logging

import gevent
from gevent.event import Event
from hiredis import pack_command
from redis.exceptions import ConnectionError, NoScriptError, ResponseError, TimeoutError

from hookyard.core import metrics

logger = logging.getLogger(__name__)

MAX_BATCH = 500  # calls per round trip; the rest go in the next one
ANSWER_WITHIN = 60.0  # seconds: far past the client's socket timeout; a bound, should the sender be lost


class _Call:
    __slots__ = ("done", "error", "packed", "result")

    def __init__(self, command: tuple):
        self.packed = pack_command(command)
        self.done = Event()
        self.result = None
        self.error = None

    def answer(self, result) -> None:
        if isinstance(result, BaseException):
            # Each caller raises its own copy: one exception raised in many greenlets would gather all
            # their tracebacks (and keep their frames alive).
            with contextlib.suppress(Exception):  # one that cannot be copied is raised as it is
                result = copy.copy(result).with_traceback(None)
            self.error = result
        else:
            self.result = result
        self.done.set()


class ScriptBatcher:
    """Call one Lua script as `batcher(keys, args)`, coalescing concurrent calls into pipelines."""

    def __init__(self, redis, script_text: str, name: str):
        self.redis = redis
        self.script = redis.register_script(script_text)
        self.name = name
        self.pending: list[_Call] = []
        self.wakeup = None
        self.sender = None

    def __call__(self, keys: list, args: list):
        call = _Call(("EVALSHA", self.script.sha, len(keys), *keys, *args))
        self.pending.append(call)
        if self.sender is None or self.sender.dead:
            self.wakeup = Event()
            self.sender = gevent.spawn(self._send_forever)
        self.wakeup.set()
        if not call.done.wait(ANSWER_WITHIN):
            with contextlib.suppress(ValueError):  # still queued: it never runs; else it is in flight
                self.pending.remove(call)
            raise TimeoutError(f"Redis did not answer within {ANSWER_WITHIN:.0f} s.")
        if call.error is not None:
            raise call.error
        return call.result

    def _send_forever(self) -> None:
        try:
            while True:
                self.wakeup.wait()
                self.wakeup.clear()
                while self.pending:
                    batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                    self._send(batch)
        except BaseException as error:  # killed (worker shutdown): nobody may be left waiting
            waiting, self.pending = self.pending, []
            for call in waiting:
                call.answer(_stand_in(error))
            raise

    def _send(self, batch: list[_Call]) -> None:
        """Send a batch and answer every call in it, whatever happens."""
        results: list = []
        try:
            self._round_trip(batch, results)
            if any(isinstance(result, NoScriptError) for result in results):
                # Redis lost its scripts (restart, SCRIPT FLUSH): those calls did not run; load and resend.
                again = [index for index, result in enumerate(results) if isinstance(result, NoScriptError)]
                resent = []
                try:
                    self.redis.script_load(self.script.script)
                    self._round_trip([batch[index] for index in again], resent)
                except Exception as error:
                    resent = [error] * len(again)
                for index, result in zip(again, resent, strict=True):
                    results[index] = result
            metrics.record_round_trip(self.name, len(batch))
        except BaseException as error:
            if isinstance(error, Exception):
                logger.warning("%s round trip: %s", self.name, error)
            results += [_stand_in(error)] * (len(batch) - len(results))
            if not isinstance(error, Exception):
                raise
        finally:
            for call, result in zip(batch, results, strict=False):
                call.answer(result)

    def _round_trip(self, batch: list[_Call], results: list) -> None:
        """Send the calls as one pipeline; append to `results` each one's answer, or the error standing in.

        Answers read before a failure stay in `results`, also when the failure ends the sender.
        """
        pool = self.redis.connection_pool
        try:
            connection = pool.get_connection()
        except Exception as error:
            results += [error] * len(batch)
            return
        try:
            connection.send_packed_command([b"".join(call.packed for call in batch)])  # one write
            for _ in batch:
                try:
                    results.append(connection.read_response())
                except ResponseError as error:
                    results.append(error)
        except BaseException as error:
            # The connection is in an unknown state. Calls answered before the failure keep their answer
            # (their scripts ran); the rest get the error.
            connection.disconnect()
            if not isinstance(error, Exception):
                raise
            results += [error] * (len(batch) - len(results))
        finally:
            pool.release(connection)


def _stand_in(error: BaseException) -> Exception:
    """The error a waiting caller raises for `error`: itself, or for a killed sender a ConnectionError
    (raising GreenletExit in a request would end it without an answer)."""
    if isinstance(error, Exception):
        return error
    return ConnectionError(f"The Redis sender of this process stopped ({type(error).__name__}) before answering.")
