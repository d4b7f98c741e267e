"""An organization's plan limits and this month's usage, for the API and the dashboard alike."""

from hookyard.signals.keys import usage_period
from models import RateLimit


def usage_report(intake, organization_id: int) -> dict:
    """This month's accepted signals against the plan limit, with the overage when overages are on."""
    used = intake.usage(organization_id)
    limits = RateLimit.for_organization(organization_id)
    limit = limits.raw_signals_per_month
    overage = max(0, used - limit) if limit is not None and limits.overages_enabled else 0
    return {
        "period": usage_period(),
        "raw_signals": used,
        "limit": limit,
        "overages_enabled": limits.overages_enabled,
        "overage": overage,
    }


def set_limits(intake, organization_id: int, changes: dict) -> RateLimit:
    """Change the plan limits; the next request is held to them."""
    limits = RateLimit.for_organization(organization_id)
    for name, value in changes.items():
        setattr(limits, name, value)
    limits.save()
    intake.load_limits(organization_id)
    return limits
