"""Group commit for a Redis Lua script: concurrent calls in one web process share one round trip.

Under gunicorn's gevent worker a web process serves many requests at once, and a blocking round
trip per request costs more CPU than validating the request (bench/ingest.py). So calls queue up
while the previous round trip is in flight, and one greenlet sends them all as one pipeline: under
load each round trip carries every call that arrived during the last one; when idle, a call goes
alone at once. Each call is still its own EVALSHA, so its result is exactly what it would have been
alone, and a failing round trip fails only the calls it carried. Outside gevent (tests, `flask`
commands) calls go straight through redis-py.
"""

from hiredis import pack_command
from redis.exceptions import NoScriptError, ResponseError

import cooperative
import metrics

MAX_BATCH = 500  # calls per round trip; the rest go in the next one


class _Call:
    __slots__ = ("args", "done", "error", "keys", "result")

    def __init__(self, keys, args, done):
        self.keys = keys
        self.args = args
        self.done = done
        self.result = None
        self.error = None


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
        if not cooperative.enabled():
            return self.script(keys=keys, args=args)
        from gevent.event import Event

        call = _Call(keys, args, Event())
        self.pending.append(call)
        if self.sender is None or self.sender.dead:
            import gevent

            self.wakeup = Event()
            self.sender = gevent.spawn(self._send_forever)
        self.wakeup.set()
        call.done.wait()
        if call.error is not None:
            raise call.error
        return call.result

    def _send_forever(self) -> None:
        while True:
            self.wakeup.wait()
            self.wakeup.clear()
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                self._send(batch)

    def _send(self, batch: list[_Call]) -> None:
        metrics.record_round_trip(self.name, len(batch))
        try:
            results = self._round_trip(batch)
            if any(isinstance(result, NoScriptError) for result in results):
                # Redis lost its scripts (restart, SCRIPT FLUSH): those calls did not run; load and resend.
                self.redis.script_load(self.script.script)
                again = [index for index, result in enumerate(results) if isinstance(result, NoScriptError)]
                for index, result in zip(again, self._round_trip([batch[index] for index in again]), strict=True):
                    results[index] = result
        except Exception as error:  # raised to every caller of the batch
            results = [error] * len(batch)
        for call, result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                call.error = result
            else:
                call.result = result
            call.done.set()

    def _round_trip(self, batch: list[_Call]) -> list:
        """Send the calls as one pipeline; return each one's result, or the error that stands in for it."""
        sha = self.script.sha
        packed = b"".join(pack_command(("EVALSHA", sha, len(call.keys), *call.keys, *call.args)) for call in batch)
        pool = self.redis.connection_pool
        connection = pool.get_connection()
        results = []
        try:
            connection.send_packed_command([packed])
            for _ in batch:
                try:
                    results.append(connection.read_response())
                except ResponseError as error:
                    results.append(error)
        except Exception as error:
            # The connection is in an unknown state. Calls answered before the failure keep their answer
            # (their scripts ran); the others get the error: their senders retry, dedupe absorbs a repeat.
            connection.disconnect()
            results += [error] * (len(batch) - len(results))
        finally:
            pool.release(connection)
        return results
