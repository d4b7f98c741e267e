"""`python -m hookyard.devserver.respawn NAME COMMAND`: keep one of `make run`'s processes running.

honcho stops every process when one exits, so a worker that died would take the web process and Redis
down with it. Under `make run` each Procfile command runs inside this wrapper instead: when the command
exits without having been asked to stop, the wrapper says so loudly and starts it again, waiting longer
each time it dies at once. SIGINT and SIGTERM are passed on, and then the wrapper exits with the command;
whatever the command leaves running when it exits is stopped too.
"""

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time

QUICK_DEATH = 30  # seconds: a command that dies sooner than this waits twice as long before the next start


def respawn(name: str, command: str) -> int:
    """Run `command` until a signal asks it to stop; return its last exit code."""
    stopping, child, delay = False, None, 1

    def pass_on(signum, _frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGINT, pass_on)
    signal.signal(signal.SIGTERM, pass_on)
    while True:
        started = time.monotonic()
        # A session of its own, so what it leaves behind can be stopped with it: a killed worker's RQ
        # scheduler would live on holding the worker's Redis connection, whose blocked dequeue would then
        # swallow the next job.
        child = subprocess.Popen(shlex.split(command), start_new_session=True)  # noqa: S603 (the Procfile's)
        code = child.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        if stopping:
            return code
        delay = min(30, delay * 2) if time.monotonic() - started < QUICK_DEATH else 1
        print(f"hookyard: !!! {name} exited with code {code}; starting it again in {delay}s", flush=True)
        time.sleep(delay)
        if stopping:
            return code


if __name__ == "__main__":
    sys.exit(respawn(sys.argv[1], sys.argv[2]))
