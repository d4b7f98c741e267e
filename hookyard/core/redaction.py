"""Keep credentials out of logs: every Hookyard credential has an `hy_<kind>_` prefix, so it can be found."""

import re

from gunicorn.glogging import Logger

_CREDENTIAL = re.compile(r"(hy_[a-z]+_)[A-Za-z0-9_\-]+")


def redact(text: str) -> str:
    """Replace every Hookyard credential in `text` by its prefix and `[redacted]`."""
    return _CREDENTIAL.sub(r"\1[redacted]", text)


class RedactingLogger(Logger):
    """gunicorn's logger, with credentials removed from the request line and path of access logs."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms
