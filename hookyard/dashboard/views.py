"""Every dashboard page, gathered on the one blueprint `app.py` registers."""

from hookyard.dashboard import (  # noqa: F401 (each adds its routes to bp)
    auth_views,
    dead_letters,
    flows,
    integrations,
    mapping,
    outbound,
    overview,
    settings,
    signals,
)
from hookyard.dashboard.blueprint import bp

__all__ = ["bp"]
