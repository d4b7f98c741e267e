"""Every dashboard page, gathered on the one blueprint `app.py` registers."""

from hookyard.dashboard import auth_views, flows, outbound, overview, settings, signals  # noqa: F401 (add routes)
from hookyard.dashboard.blueprint import bp

__all__ = ["bp"]
