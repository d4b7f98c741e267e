"""`make run`: migrate, then start web + worker from the Procfile, with a Redis of our own if needed.

This parent process owns the embedded Redis: it starts it (when REDIS_URL is unset), hands its URL
to the web and worker processes, and stops it after they have exited on Ctrl-C.
"""

import os
import shlex
import subprocess
import sys

from hookyard.core.config import LOCAL_KEY_FILE, ROOT, VAR_DIR
from hookyard.core.credentials import generate_key
from hookyard.devserver.embedded_redis import EmbeddedRedis

VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))


def procfile_command(process: str) -> str:
    """Return the command the Procfile gives for a process type."""
    with open(os.path.join(ROOT, "Procfile")) as procfile:
        for line in procfile:
            name, _, command = line.partition(":")
            if name.strip() == process:
                return command.strip()
    raise SystemExit(f"Procfile has no {process!r} process")


def supervised_procfile() -> str:
    """Write the Procfile `make run` uses: web and worker as in the Procfile, each started again if it dies."""
    path = os.path.join(VAR_DIR, "Procfile.run")
    os.makedirs(VAR_DIR, exist_ok=True)
    with open(path, "w") as procfile:
        for process in ("web", "worker"):
            wrapped = shlex.join(
                [sys.executable, "-m", "hookyard.devserver.respawn", process, procfile_command(process)]
            )
            procfile.write(f"{process}: {wrapped}\n")
    return path


def local_encryption_key() -> str:
    """Return this checkout's key for sealing webhook secrets, made once under var/ (production sets its own)."""
    if not os.path.exists(LOCAL_KEY_FILE):
        os.makedirs(VAR_DIR, exist_ok=True)
        with os.fdopen(os.open(LOCAL_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as key_file:
            key_file.write(generate_key())
    with open(LOCAL_KEY_FILE) as key_file:
        return key_file.read().strip()


def main() -> int:
    """Run the service until Ctrl-C."""
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""), PYTHONUNBUFFERED="1")
    env.setdefault("PORT", "5000")
    env.setdefault("HOOKYARD_ENCRYPTION_KEY", local_encryption_key())
    redis_server = None
    if not env.get("REDIS_URL"):
        redis_server = EmbeddedRedis(os.path.join(VAR_DIR, "redis")).start()
        env["REDIS_URL"] = redis_server.url
        print(f"hookyard: started Redis ({redis_server.binary}) at {redis_server.url}, data in var/redis")
    try:
        subprocess.run(shlex.split(procfile_command("release")), env=env, cwd=ROOT, check=True)  # noqa: S603
        print(f"hookyard: serving on http://127.0.0.1:{env['PORT']}  (Ctrl-C stops web, worker and Redis)")
        print('hookyard: next, in another terminal: .venv/bin/flask --app app create-org "My Organization"')
        print("hookyard: then: .venv/bin/flask --app app create-user you@example.com --organization <its id>")
        print(f"hookyard: and sign in at http://127.0.0.1:{env['PORT']}/dashboard/login")
        honcho = subprocess.Popen(  # noqa: S603
            [os.path.join(VENV_BIN, "honcho"), "start", "-f", supervised_procfile(), "-d", ROOT, "web", "worker"],
            env=env,
            cwd=ROOT,
        )
        try:
            return honcho.wait()
        except KeyboardInterrupt:
            # The terminal sent SIGINT to honcho too; let it stop web and worker cleanly.
            return honcho.wait()
    finally:
        if redis_server is not None:
            redis_server.stop()
            print("hookyard: Redis stopped")


if __name__ == "__main__":
    sys.exit(main())
