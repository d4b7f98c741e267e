"""Identities after commit (worker side): follow Segment aliases to one lead, rehydrate cold signals.

Both run after the commit of whatever recorded an alias or linked an id, and again on the links they
made (jobs.settle), so an alias and the identify naming its lead meet in whatever order, and however
concurrently, they arrive. Both are safe to repeat.
"""

from peewee import chunked, fn

from hookyard.core.db import db
from hookyard.mapping.apply import credit_rehydrated
from models import Identity, IdentityAlias, Signal

MAX_ALIAS_HOPS = 8
IDENTITY_KINDS = ("anonymous_id", "user_id")
IN_CHUNK = 2000  # values per IN list: an alias group may be large; SQLite allows 32,766 variables


def resolve_aliases(organization_id: int, values) -> dict:
    """Link every id of the alias group that `values` reach to the lead one of them is linked to.

    The group is every id connected to `values` by alias pairs, followed for MAX_ALIAS_HOPS steps;
    the earliest alias and the oldest lead win where they disagree, and a linked id never moves.
    previousId may have been an anonymousId or an earlier userId, so it is linked as both. Returns
    the links this transaction made, (kind, value) -> lead id: a link another worker made at the
    same moment is not reported twice.
    """
    pairs = _alias_pairs(organization_id, values)
    if not pairs:
        return {}
    names = {value for pair in pairs for value in pair}
    links = known_links(organization_id, {(kind, value) for value in names for kind in IDENTITY_KINDS})
    wanted = _links_along(pairs, links)
    missing = sorted((identity, lead_id) for identity, lead_id in wanted.items() if identity not in links)
    made = {}
    for part in chunked(missing, IN_CHUNK):
        made.update(
            ((kind, value), lead_id)
            for kind, value, lead_id in Identity.insert_many(
                [
                    {"organization": organization_id, "kind": kind, "value": value, "lead": lead_id}
                    for (kind, value), lead_id in part
                ]
            )
            .on_conflict_ignore()
            .returning(Identity.kind, Identity.value, Identity.lead)
            .tuples()
            .execute()
        )
    return made


def _alias_pairs(organization_id: int, values) -> list[tuple[str, str]]:
    """Return the (previousId, userId) pairs connected to `values`, oldest alias first."""
    pairs, group, frontier = {}, set(), {value for value in values if value}
    for _hop in range(MAX_ALIAS_HOPS):
        frontier -= group
        if not frontier:
            break
        group |= frontier
        found = [
            row
            for part in chunked(sorted(frontier), IN_CHUNK)
            for row in IdentityAlias.select(IdentityAlias.id, IdentityAlias.previous_id, IdentityAlias.user_id)
            .where(
                (IdentityAlias.organization == organization_id)
                & (IdentityAlias.previous_id.in_(part) | IdentityAlias.user_id.in_(part))
            )
            .tuples()
        ]
        fresh = {alias_id: (previous_id, user_id) for alias_id, previous_id, user_id in found if alias_id not in pairs}
        pairs.update(fresh)
        frontier = {value for pair in fresh.values() for value in pair}
    return [pairs[alias_id] for alias_id in sorted(pairs)]


def _links_along(pairs: list[tuple[str, str]], links: dict) -> dict:
    """Spread known leads along the alias pairs; return every (kind, value) -> lead id the group implies."""
    lead_of = {}
    for (_kind, value), lead_id in sorted(links.items(), key=lambda item: item[1]):
        lead_of.setdefault(value, lead_id)  # the oldest lead wins
    changed = True
    while changed:  # each pass links at least one id or stops
        changed = False
        for previous_id, user_id in pairs:
            lead_id = lead_of.get(user_id) or lead_of.get(previous_id)
            for value in (previous_id, user_id):
                if lead_id is not None and value not in lead_of:
                    lead_of[value], changed = lead_id, True
    wanted = {}
    for previous_id, user_id in pairs:
        if user_id in lead_of:
            wanted[("user_id", user_id)] = lead_of[user_id]
        if previous_id in lead_of:
            wanted[("anonymous_id", previous_id)] = wanted[("user_id", previous_id)] = lead_of[previous_id]
    return wanted


def known_links(organization_id: int, identities) -> dict:
    """Return (kind, value) -> lead id for the identities already linked."""
    kinds = {kind for kind, _value in identities}
    found = {}
    for values in chunked(sorted({value for _kind, value in identities}), IN_CHUNK):
        query = Identity.select(Identity.kind, Identity.value, Identity.lead).where(
            (Identity.organization == organization_id) & Identity.kind.in_(kinds) & Identity.value.in_(values)
        )
        found.update({(row.kind, row.value): row.lead_id for row in query if (row.kind, row.value) in identities})
    return found


def rehydrate(organization_id: int, identities) -> list[tuple]:
    """Attach cold signals carrying any of these identities to their linked lead; score leads for the
    mapped ones. Return the events to publish."""
    anonymous_ids = [value for kind, value in identities if kind == "anonymous_id"]
    user_ids = [value for kind, value in identities if kind == "user_id"]
    if not anonymous_ids and not user_ids:
        return []
    link = (
        Identity.select(Identity.lead)
        .where(
            (Identity.organization == Signal.organization)
            & (
                ((Identity.kind == "anonymous_id") & (Identity.value == Signal.anonymous_id))
                | ((Identity.kind == "user_id") & (Identity.value == Signal.user_id))
            )
        )
        .order_by(Identity.id)
        .limit(1)
    )
    carrying = Signal.anonymous_id.in_(anonymous_ids or [""]) | Signal.user_id.in_(user_ids or [""])
    with db.atomic():  # a signal leaves cold storage and its mapped score reaches the lead together
        moved = (
            Signal.update(lead=link, cold_storage=False)
            .where(
                (Signal.organization == organization_id)
                & (Signal.cold_storage == True)  # noqa: E712
                & carrying
                & fn.EXISTS(link)
            )
            .returning(Signal.lead, Signal.mapping_rule_id, Signal.status)
            .tuples()
            .execute()
        )
        return credit_rehydrated(list(moved))
