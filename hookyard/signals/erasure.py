"""Segment `delete` calls: erase what Hookyard holds on a user (GDPR erasure), inside the storing transaction.

A delete call names a `userId`. Erased: the leads that id is linked to, every signal of those leads or
carrying that userId or one of the leads' anonymous ids (cold ones too), their identity links and the
alias calls naming any of those ids. The delete call itself is kept as a signal (source `segment`,
event `delete`), the record that the erasure was asked for and done; it holds the userId only.
Signals of the user arriving after the delete call start afresh, as Segment's own erasure does.
"""

from hookyard.signals.fields import SignalFields
from models import Identity, IdentityAlias, Lead, Signal


def user_ids_to_erase(parsed: list[tuple[dict, SignalFields]]) -> set[str]:
    """Return the userIds the delete calls among these signals name."""
    return {fields.user_id for _entry, fields in parsed if fields.segment_type == "delete" and fields.user_id}


def erase_users(organization_id: int, user_ids: set[str], keep: set[int]) -> int:
    """Erase the users' leads, signals, identities and aliases; keep the signals in `keep` (the delete
    calls). Return how many signals were erased."""
    of_organization = Identity.organization == organization_id
    lead_ids = set(
        Identity.select(Identity.lead)
        .where(of_organization & (Identity.kind == "user_id") & Identity.value.in_(user_ids))
        .scalars()
    )
    identities = {("user_id", user_id) for user_id in user_ids}
    if lead_ids:
        identities |= set(Identity.select(Identity.kind, Identity.value).where(Identity.lead.in_(lead_ids)).tuples())
    anonymous_ids = {value for kind, value in identities if kind == "anonymous_id"}
    every_id = {value for _kind, value in identities}
    carrying = Signal.user_id.in_(user_ids) | Signal.anonymous_id.in_(anonymous_ids or [""])
    if lead_ids:
        carrying |= Signal.lead.in_(lead_ids)
    erased = (
        Signal.delete()
        .where((Signal.organization == organization_id) & carrying & Signal.id.not_in(keep or [0]))
        .execute()
    )
    IdentityAlias.delete().where(
        (IdentityAlias.organization == organization_id)
        & (IdentityAlias.previous_id.in_(every_id) | IdentityAlias.user_id.in_(every_id))
    ).execute()
    named = (Identity.kind == "user_id") & Identity.value.in_(user_ids)
    Identity.delete().where(of_organization & (Identity.lead.in_(lead_ids or [0]) | named)).execute()
    if lead_ids:
        Lead.delete().where((Lead.organization == organization_id) & Lead.id.in_(lead_ids)).execute()
    return erased
