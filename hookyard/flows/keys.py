"""The Redis keys of flow ingress: the buffer every flow shares, and each flow's own counters and claims."""

from hookyard.core.buffer import BufferKeys


def flow_buffer_keys(prefix: str) -> BufferKeys:
    """Return the keys of the one buffer every flow's events wait in."""
    return BufferKeys(prefix, "flows")


class FlowKeys:
    """The Redis keys of one flow."""

    def __init__(self, prefix: str, flow_id: str):
        self.base = f"{prefix}:flow:{flow_id}"
        self.shared = flow_buffer_keys(prefix)

    def rate(self, second: int) -> str:
        return f"{self.base}:rate:{second}"

    def rejected(self, minute: int) -> str:
        return f"{self.base}:rejected:{minute}"

    def claim(self, dedupe_key: str) -> str:
        return f"{self.base}:seen:{dedupe_key}"
