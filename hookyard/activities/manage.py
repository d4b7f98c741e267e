"""Members, projects, custom webhooks and the activity list: for the API and the dashboard alike."""

import peewee

from hookyard.activities.ingress import TOKEN_PREFIX, ingress_url_of
from hookyard.core.clock import utcnow
from hookyard.core.credentials import display_prefix, hash_credential, new_credential, new_public_id
from hookyard.core.db import db
from hookyard.core.errors import Conflict, ValidationFailed
from models import Activity, IngressUrl, Member, Project


def add_member(organization, email: str, name: str) -> Member:
    """Add a member (the person activities are attributed to); 409 if the address is one already."""
    try:
        with db.atomic():
            return Member.create(
                id=new_public_id("mem_"), organization=organization, email=email.strip().lower(), name=name
            )
    except peewee.IntegrityError:
        raise Conflict(f"{email} is already a member.", code="member_exists") from None


def member_by_email(organization, email: str, field: str) -> Member:
    """The organization's member with an address, or a 400 naming the field."""
    member = Member.get_or_none((Member.organization == organization) & (Member.email == email.strip().lower()))
    if member is None:
        raise ValidationFailed({field: [f"{email} is not a member of this organization (add it: POST /v1/members)."]})
    return member


def create_project(organization, name: str) -> Project:
    return Project.create(id=new_public_id("proj_"), organization=organization, name=name)


def create_ingress_url(organization, project: Project, name: str, creator: Member) -> tuple[IngressUrl, str]:
    """Create a custom webhook; return it and its URL (the only credential: shown once, kept as a hash)."""
    token = new_credential(TOKEN_PREFIX)
    ingress = IngressUrl.create(
        id=new_public_id("cwh_"),
        organization=organization,
        project=project,
        name=name,
        created_by=creator,
        token_hash=hash_credential(token),
        token_prefix=display_prefix(token, 16),
    )
    return ingress, ingress_url_of(token)


def rotate_ingress_url(ingress: IngressUrl) -> str:
    """Issue a new URL; the old one stops working at once. Return the new URL."""
    token = new_credential(TOKEN_PREFIX)
    ingress.token_hash, ingress.token_prefix = hash_credential(token), display_prefix(token, 16)
    ingress.rotated_at = utcnow()
    ingress.save()
    return ingress_url_of(token)


def revoke_ingress_url(ingress: IngressUrl) -> None:
    """Delete (revoke) a custom webhook: it and its URL answer 404 from now on; its activities stay."""
    ingress.revoked_at = utcnow()
    ingress.save()


def activity_query(organization_id: int, filters: dict):
    """Activities by project, member and a window on startTime."""
    query = Activity.select(Activity, Member).join(Member).where(Activity.organization == organization_id)
    if filters.get("project_id"):
        query = query.where(Activity.project == filters["project_id"])
    if filters.get("member_email"):
        query = query.where(Member.email == filters["member_email"].strip().lower())
    if filters.get("since") is not None:
        query = query.where(Activity.start_time >= filters["since"])
    if filters.get("until") is not None:
        query = query.where(Activity.start_time < filters["until"])
    return query
