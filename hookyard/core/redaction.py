"""Keep credentials out of logs: every Hookyard credential has an `hy_<kind>_` prefix, so it can be found."""

import re

_CREDENTIAL = re.compile(r"(hy_[a-z]+_)[A-Za-z0-9_\-]+")


def redact(text: str) -> str:
    """Replace every Hookyard credential in `text` by its prefix and `[redacted]`."""
    return _CREDENTIAL.sub(r"\1[redacted]", text)
