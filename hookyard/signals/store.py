"""Storing signals in the worker: dedupe, leads, identity links, cold storage, and what settles after commit.

`store_signals` runs inside the caller's transaction and is idempotent: every signal arrives with
its permanent id, so running a chunk twice stores nothing twice. Dedupe is the database's unique
index on (organization, dedupe key), not a read-then-write check. What it leaves for after the
commit (aliases to follow, cold signals to rehydrate: identities.py) is in its StoreResult; that
runs on both sides of a race, so the result does not depend on order or concurrency.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from hookyard.core.clock import iso_z, utcnow
from hookyard.core.db import insert_rows
from hookyard.mapping.apply import Candidate, map_new_signals
from hookyard.signals.erasure import erase_users, user_ids_to_erase
from hookyard.signals.fields import SignalFields, dedupe_key, identifier, read_fields, sender_time
from hookyard.signals.identities import known_links
from models import Identity, IdentityAlias, Lead, Signal


@dataclass
class StoreResult:
    stored: list[int] = field(default_factory=list)
    stored_rows: list[dict] = field(default_factory=list)  # what signal.received events say
    duplicates: list[int] = field(default_factory=list)
    new_leads: list[tuple[int, int, str]] = field(default_factory=list)  # (organization, lead id, email)
    identified: dict = field(default_factory=dict)  # (organization, kind, value) -> lead id
    identities: dict = field(default_factory=lambda: defaultdict(set))  # organization -> {(kind, value)}
    events: list = field(default_factory=list)  # (organization, type, data) from mapping rules
    aliased: dict = field(default_factory=lambda: defaultdict(set))  # organization -> {ids in alias calls}

    def merge(self, other: "StoreResult") -> None:
        self.stored += other.stored
        self.stored_rows += other.stored_rows
        self.duplicates += other.duplicates
        self.new_leads += other.new_leads
        self.identified.update(other.identified)
        self.events += other.events
        for organization, values in other.identities.items():
            self.identities[organization] |= values
        for organization, values in other.aliased.items():
            self.aliased[organization] |= values


def _received_at(milliseconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(milliseconds / 1000, datetime.UTC).replace(tzinfo=None)


def lead_fields_from_traits(traits: dict) -> dict:
    """Return the lead columns a Segment identify's traits fill: name, company and title."""
    name = traits.get("name")
    if not name:
        first = traits.get("firstName") or traits.get("first_name")
        last = traits.get("lastName") or traits.get("last_name")
        name = " ".join(part for part in (first, last) if isinstance(part, str) and part) or None
    company = traits.get("company")
    if isinstance(company, dict):
        company = company.get("name")
    title = traits.get("title")
    found = {"name": name, "company": company, "title": title}
    return {
        column: str(value)[:255]
        for column, value in found.items()
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != ""
    }


def store_signals(envelopes: list[dict]) -> StoreResult:
    """Store a chunk of accepted signals; call inside a transaction, then `jobs.settle` after commit."""
    result = StoreResult()
    by_organization = defaultdict(list)
    for entry in envelopes:
        by_organization[entry["org"]].append(entry)
    for organization_id, entries in by_organization.items():
        result.merge(_store_for_organization(organization_id, entries))
    return result


def _store_for_organization(organization_id: int, entries: list[dict]) -> StoreResult:
    result = StoreResult()
    already = _existing_ids([entry["id"] for entry in entries])
    for entry in entries:
        if entry["id"] in already:
            # Stored by an earlier run, whose after-commit work (aliases, rehydration) may not have
            # happened: hand it to this run's `settle` again; that work is safe to repeat.
            _settle_inputs(organization_id, entry, read_fields(entry["p"], entry["src"]), result)
    entries = [entry for entry in entries if entry["id"] not in already]
    if not entries:
        return result
    parsed = [(entry, read_fields(entry["p"], entry["src"])) for entry in entries]
    leads = _upsert_leads(organization_id, parsed, result)
    links = _link_identities(organization_id, parsed, leads, result)
    _record_aliases(organization_id, parsed, result)
    rows = []
    for entry, fields in parsed:
        if fields.segment_type == "delete":  # the record of an erasure: attached to nobody, never rehydrated
            rows.append({**_signal_row(organization_id, entry, fields, None), "cold_storage": False})
            continue
        lead_id = leads.get(fields.email) if fields.email else None
        if lead_id is None:
            lead_id = next((links[identity] for identity in fields.identities if identity in links), None)
        if lead_id is None:  # cold: settle rehydrates it once an identity is linked
            result.identities[organization_id].update(fields.identities)
        rows.append(_signal_row(organization_id, entry, fields, lead_id))
    insert_rows(Signal, rows)
    inserted = _existing_ids([row["id"] for row in rows])
    erasing = user_ids_to_erase(parsed)
    if erasing:  # a delete call: what it erased of this chunk is neither stored nor a duplicate
        keep = {entry["id"] for entry, fields in parsed if fields.segment_type == "delete"}
        erase_users(organization_id, erasing, keep)
        erased = inserted - _existing_ids([row["id"] for row in rows])
        rows = [row for row in rows if row["id"] not in erased]
        inserted -= erased
    stored = [row for row in rows if row["id"] in inserted]
    conflicting = [row for row in rows if row["id"] not in inserted]
    result.stored = sorted(inserted)
    result.stored_rows = [_received_event(row) for row in stored]
    if conflicting:
        _store_duplicates(organization_id, conflicting)
        result.duplicates = [row["id"] for row in conflicting]
    candidates = [Candidate(row["id"], row["source"], row["event"], row["payload"], row["lead"]) for row in stored]
    result.events = map_new_signals(organization_id, candidates)
    return result


def _signal_row(organization_id: int, entry: dict, fields: SignalFields, lead_id: int | None) -> dict:
    """Return the row of a newly stored signal (cold while no lead is known)."""
    return {"id": entry["id"], "organization": organization_id, "source": entry["src"], "event": fields.event,
            "email": fields.email, "anonymous_id": fields.anonymous_id, "user_id": fields.user_id, "lead": lead_id,
            "cold_storage": lead_id is None, "status": "processed", "dedupe_key": dedupe_key(entry["p"]),
            "payload": entry["p"], "received_at": _received_at(entry["at"]), "timestamp": sender_time(entry["p"]),
            "processed_at": utcnow()}  # fmt: skip


def _received_event(row: dict) -> dict:
    """Return what a signal.received event says of a stored signal row."""
    return {"id": row["id"], "organization_id": row["organization"], "source": row["source"], "event": row["event"],
            "email": row["email"], "lead_id": row["lead"], "cold_storage": row["cold_storage"],
            "received_at": iso_z(row["received_at"])}  # fmt: skip


def _existing_ids(ids: list[int]) -> set[int]:
    """Return which of these signal ids are stored (a chunk's ids are nearly consecutive: one range scan)."""
    wanted = set(ids)
    found = Signal.select(Signal.id).where(Signal.id.between(min(ids), max(ids))).scalars()
    return {signal_id for signal_id in found if signal_id in wanted}


def _upsert_leads(organization_id: int, parsed: list[tuple[dict, SignalFields]], result: StoreResult) -> dict:
    """Create the leads these signals' emails name; fill them from identify traits. Return email -> lead id."""
    emails = {fields.email for _entry, fields in parsed if fields.email}
    if not emails:
        return {}
    of_organization = (Lead.organization == organization_id) & Lead.email.in_(emails)
    existing = set(Lead.select(Lead.email).where(of_organization).scalars())
    new = sorted(emails - existing)
    if new:
        now = utcnow()
        # RETURNING names only the rows this transaction inserted: a lead another worker created at the
        # same moment is skipped by the unique index and not announced twice as lead.created.
        created = (
            Lead.insert_many(
                [
                    {
                        "organization": organization_id,
                        "email": email,
                        "traits": {},
                        "score": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for email in new
                ]
            )
            .on_conflict_ignore()
            .returning(Lead.id, Lead.email)
            .tuples()
            .execute()
        )
        result.new_leads = [(organization_id, lead_id, email) for lead_id, email in created]
    lead_ids = dict(Lead.select(Lead.email, Lead.id).where(of_organization).tuples())
    _apply_identify_traits(parsed, lead_ids)
    return lead_ids


def _apply_identify_traits(parsed, lead_ids: dict) -> None:
    """Fill leads from their identify calls' traits, in arrival order; all traits are kept."""
    identifies = [(entry, fields) for entry, fields in parsed if fields.segment_type == "identify" and fields.email]
    if not identifies:
        return
    leads = {
        lead.email: lead
        for lead in Lead.select().where(Lead.id.in_([lead_ids[fields.email] for _entry, fields in identifies]))
    }
    changed = {}
    for entry, fields in identifies:
        traits = entry["p"].get("traits") or (entry["p"].get("context") or {}).get("traits") or {}
        if isinstance(traits, dict) and traits:
            lead = leads[fields.email]
            lead.traits = {**(lead.traits or {}), **traits}
            for column, value in lead_fields_from_traits(traits).items():
                setattr(lead, column, value)
            changed[lead.id] = lead
    for lead in changed.values():
        lead.updated_at = utcnow()
        lead.save(only=[Lead.name, Lead.company, Lead.title, Lead.traits, Lead.updated_at])


def _link_identities(organization_id: int, parsed, leads: dict, result: StoreResult) -> dict:
    """Link identify calls' anonymousId/userId to their lead (first link wins); return every known link."""
    wanted = {identity for _entry, fields in parsed for identity in fields.identities}
    if not wanted:
        return {}
    new_links = {}
    for _entry, fields in parsed:
        if fields.segment_type == "identify" and fields.email:
            for identity in fields.identities:
                new_links.setdefault(identity, leads[fields.email])
    if new_links:
        Identity.insert_many(
            [
                {"organization": organization_id, "kind": kind, "value": value, "lead": lead_id}
                for (kind, value), lead_id in sorted(new_links.items())
            ]  # one lock order
        ).on_conflict_ignore().execute()
    links = known_links(organization_id, wanted)
    for identity in new_links:
        if identity in links:
            result.identified[(organization_id, *identity)] = links[identity]
            result.identities[organization_id].add(identity)
    return links


def _alias_pair(entry: dict, fields: SignalFields) -> tuple[str, str] | None:
    """Return an alias call's (previousId, userId), or None."""
    if fields.segment_type != "alias":
        return None
    previous_id = identifier(entry["p"].get("previousId"))
    if previous_id and fields.user_id and previous_id != fields.user_id:
        return previous_id, fields.user_id
    return None


def _settle_inputs(organization_id: int, entry: dict, fields: SignalFields, result: StoreResult) -> None:
    """Note what `settle` must look at for a signal stored earlier: its ids and its alias, if any."""
    result.identities[organization_id].update(fields.identities)
    pair = _alias_pair(entry, fields)
    if pair:
        result.aliased[organization_id].update(pair)


def _record_aliases(organization_id: int, parsed, result: StoreResult) -> None:
    """Keep each alias call's (previousId, userId) pair; `resolve_aliases` links them after commit."""
    pairs = {pair for entry, fields in parsed if (pair := _alias_pair(entry, fields))}
    if pairs:
        IdentityAlias.insert_many(
            [
                {"organization": organization_id, "previous_id": previous_id, "user_id": user_id}
                for previous_id, user_id in sorted(pairs)
            ]
        ).on_conflict_ignore().execute()
        result.aliased[organization_id].update(value for pair in pairs for value in pair)


def _store_duplicates(organization_id: int, rows: list[dict]) -> None:
    """Store signals whose dedupe key is taken as duplicates of the original: no payload, no lead."""
    originals = {
        signal.dedupe_key: signal.id
        for signal in Signal.select(Signal.id, Signal.dedupe_key).where(
            (Signal.organization == organization_id)
            & Signal.dedupe_key.in_({row["dedupe_key"] for row in rows})
            & Signal.duplicate_of.is_null()
        )
    }
    duplicates = [
        {
            **row,
            "status": "duplicate",
            "duplicate_of": originals[row["dedupe_key"]],
            "payload": None,
            "lead": None,
            "cold_storage": False,
        }
        for row in rows
        if row["dedupe_key"] in originals
    ]
    if duplicates:
        insert_rows(Signal, duplicates)
