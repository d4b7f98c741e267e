"""Signals, bulk imports and leads: lists with the API's filters, a signal's detail, a lead's timeline."""

import functools

from flask import g, request
from peewee import Ordering, fn

from hookyard.core.http import get_owned_or_404
from hookyard.dashboard.blueprint import bp, page
from hookyard.dashboard.listing import PAGE_SIZE, list_page, next_page_url, page_of, read_filters
from hookyard.signals.reading import lead_query, signal_query, with_activity
from hookyard.signals.schemas import lead_filter_schema, signal_filter_schema
from models import Identity, Lead, MappingRule, Signal, SignalImport

STATUSES = ("processed", "duplicate", "mapped")


def _last_activity():
    """A lead's latest signal received: one probe of the (organization, lead, received_at) index per lead."""
    latest = Signal.select(fn.MAX(Signal.received_at)).where(
        (Signal.organization == Lead.organization) & (Signal.lead == Lead.id)
    )
    return (Ordering(latest, "DESC", nulls="LAST"), Lead.id.desc())


SORTS = {"score": lambda: (Lead.score.desc(), Lead.id.desc()), "last_seen": _last_activity}


@bp.get("/signals")
def signals_page():
    """Signals, newest first, with the API's filters."""
    query_for = functools.partial(signal_query, g.organization.id)
    return list_page("signals/list.html", "signals", query_for, Signal.id, schema=signal_filter_schema,
                     statuses=STATUSES)  # fmt: skip


@bp.get("/signals/<int:signal_id>")
def signal_page(signal_id):
    """One signal: its fields, status, duplicate-of, lead, and its payload as a tree."""
    signal = get_owned_or_404(Signal, signal_id, "signal", " (a signal appears once the worker has stored it)")
    return page("signals/detail.html", signal=signal)


def _imports() -> tuple[list, str | None]:
    """A page of imports, newest first (their ids are time-ordered), and the next page's cursor."""
    return page_of(SignalImport.select().where(SignalImport.organization == g.organization), SignalImport.id)


@bp.get("/imports")
def imports_page():
    """Bulk imports, newest first, with live progress (on the first page)."""
    imports, cursor = _imports()
    live = not request.args.get("cursor")
    return page("signals/imports.html", imports=imports, live=live, next_url=next_page_url(cursor))


@bp.get("/imports/live")
def imports_fragment():
    """The first page of imports alone, for the page's live refresh."""
    return page("signals/_imports_table.html", imports=_imports()[0])


@bp.get("/leads")
def leads_page():
    """Leads, newest first, or the one with an email."""
    filters, errors = read_filters(lead_filter_schema)
    query = lead_query(g.organization.id, filters.get("email"))
    order = SORTS.get(request.args.get("sort"))
    if order is not None:  # one page of the top, no cursor
        leads, cursor = list(query.order_by(*order()).limit(PAGE_SIZE)), None
    else:
        leads, cursor = page_of(query, Lead.id)
    return page(
        "signals/leads.html",
        400 if errors else 200,
        leads=with_activity(leads),
        email=filters.get("email", ""),
        errors=errors,
        next_url=next_page_url(cursor),
    )


@bp.get("/leads/<int:lead_id>")
def lead_page(lead_id):
    """A lead: score, traits, identities, and its signals as a timeline (newest first)."""
    (lead,) = with_activity([get_owned_or_404(Lead, lead_id, "lead")])
    signals, cursor = page_of(signal_query(g.organization.id, {"lead_id": lead.id}), Signal.id)
    identities = list(Identity.select().where(Identity.lead == lead).order_by(Identity.id))
    earned = list(
        signal_query(g.organization.id, {"lead_id": lead.id, "status": "mapped"}).order_by(Signal.id.desc()).limit(100)
    )
    rules = {
        rule.id: rule for rule in MappingRule.select().where(MappingRule.id.in_({s.mapping_rule_id for s in earned}))
    }
    return page("signals/lead.html", lead=lead, signals=signals, identities=identities, earned=earned, rules=rules,
                next_url=next_page_url(cursor))  # fmt: skip
