"""Every dashboard page, gathered on the one blueprint `app.py` registers."""

from hookyard.dashboard import auth_views, flows, overview, settings, signals  # noqa: F401 (each adds routes)
from hookyard.dashboard.blueprint import bp

__all__ = ["bp"]
