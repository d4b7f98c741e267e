"""Activity ingress, management side: members, projects, their custom webhooks, and reading activities."""

from flask import Blueprint, g

from hookyard.activities import manage
from hookyard.activities.schemas import (
    activity_filter_schema,
    activity_list_schema,
    activity_schema,
    ingress_webhook_create_schema,
    ingress_webhook_created_schema,
    ingress_webhook_filter_schema,
    ingress_webhook_list_schema,
    ingress_webhook_schema,
    member_create_schema,
    member_list_schema,
    member_schema,
    project_create_schema,
    project_list_schema,
    project_schema,
)
from hookyard.core.errors import NotFound
from hookyard.core.http import authenticate_management, get_owned_or_404, list_args, load_body
from hookyard.core.openapi import documented
from hookyard.core.pagination import paginate, paginate_by_time
from models import Activity, IngressUrl, Member, Project
from schemas import list_args_schema

bp = Blueprint("activities", __name__, url_prefix="/v1")
bp.before_request(authenticate_management)

TAGS = ("activities",)


def _member_by_email(email: str, field: str) -> Member:
    return manage.member_by_email(g.organization, email, field)


def _project_ingress_url(project_id: str, webhook_id: str) -> IngressUrl:
    """Return an ingress URL of one of the organization's projects, or answer 404 naming what is missing."""
    project = get_owned_or_404(Project, project_id, "project")
    found = (
        IngressUrl.select(IngressUrl, Member)
        .join(Member)
        .where((IngressUrl.id == webhook_id) & (IngressUrl.project == project))
        .first()
    )
    if found is None:
        raise NotFound(f"No webhook {webhook_id} in project {project.id}.")
    if found.revoked_at is not None:
        raise NotFound(f"Webhook {webhook_id} was deleted; create a new one.")
    return found


@bp.post("/members")
@documented(body=member_create_schema, responses={201: member_schema}, errors=(409,), tags=TAGS)
def create_member():
    """Add a member: the person activities are attributed to."""
    data = load_body(member_create_schema)
    return member_schema.dump(manage.add_member(g.organization, data["email"], data["name"])), 201


@bp.get("/members")
@documented(query=list_args_schema, responses={200: member_list_schema}, tags=TAGS)
def list_members():
    """List the organization's members, newest first."""
    args = list_args()
    query = Member.select().where(Member.organization == g.organization)
    members, next_cursor = paginate(query, Member.id, limit=args["limit"], cursor=args["cursor"])
    return {"members": member_schema.dump(members, many=True), "next_cursor": next_cursor}


@bp.post("/projects")
@documented(body=project_create_schema, responses={201: project_schema}, tags=TAGS)
def create_project():
    """Create a project: activities arrive on its webhooks."""
    data = load_body(project_create_schema)
    return project_schema.dump(manage.create_project(g.organization, data["name"])), 201


@bp.get("/projects")
@documented(query=list_args_schema, responses={200: project_list_schema}, tags=TAGS)
def list_projects():
    """List the organization's projects, newest first."""
    args = list_args()
    query = Project.select().where(Project.organization == g.organization)
    projects, next_cursor = paginate(query, Project.id, limit=args["limit"], cursor=args["cursor"])
    return {"projects": project_schema.dump(projects, many=True), "next_cursor": next_cursor}


@bp.get("/projects/<project_id>")
@documented(responses={200: project_schema}, errors=(404,), tags=TAGS)
def get_project(project_id):
    """Show one project."""
    return project_schema.dump(get_owned_or_404(Project, project_id, "project"))


@bp.post("/projects/<project_id>/webhooks")
@documented(
    body=ingress_webhook_create_schema, responses={201: ingress_webhook_created_schema}, errors=(404,), tags=TAGS
)
def create_ingress_webhook(project_id):
    """Create a custom webhook; its URL is the only credential and is shown only in this answer."""
    project = get_owned_or_404(Project, project_id, "project")
    data = load_body(ingress_webhook_create_schema)
    creator = _member_by_email(data["created_by"], "created_by")
    ingress, url = manage.create_ingress_url(g.organization, project, data["name"], creator)
    return {**ingress_webhook_schema.dump(ingress), "url": url}, 201


@bp.get("/projects/<project_id>/webhooks")
@documented(query=ingress_webhook_filter_schema, responses={200: ingress_webhook_list_schema}, errors=(404,), tags=TAGS)
def list_ingress_webhooks(project_id):
    """List a project's custom webhooks (never their URLs); deleted ones only with ?include_revoked=true."""
    project = get_owned_or_404(Project, project_id, "project")
    args = list_args(ingress_webhook_filter_schema)
    query = IngressUrl.select(IngressUrl, Member).join(Member).where(IngressUrl.project == project)
    if not args["include_revoked"]:
        query = query.where(IngressUrl.revoked_at.is_null())
    ingress_urls, next_cursor = paginate(query, IngressUrl.id, limit=args["limit"], cursor=args["cursor"])
    return {"webhooks": ingress_webhook_schema.dump(ingress_urls, many=True), "next_cursor": next_cursor}


@bp.get("/projects/<project_id>/webhooks/<webhook_id>")
@documented(responses={200: ingress_webhook_schema}, errors=(404,), tags=TAGS)
def get_ingress_webhook(project_id, webhook_id):
    """Show one custom webhook (never its URL)."""
    return ingress_webhook_schema.dump(_project_ingress_url(project_id, webhook_id))


@bp.post("/projects/<project_id>/webhooks/<webhook_id>/rotate")
@documented(responses={200: ingress_webhook_created_schema}, errors=(404,), tags=TAGS)
def rotate_ingress_webhook(project_id, webhook_id):
    """Issue a new URL; the old one stops working at once (rotate when it may have leaked)."""
    ingress = _project_ingress_url(project_id, webhook_id)
    url = manage.rotate_ingress_url(ingress)
    return {**ingress_webhook_schema.dump(ingress), "url": url}


@bp.delete("/projects/<project_id>/webhooks/<webhook_id>")
@documented(responses={204: None}, errors=(404,), tags=TAGS)
def revoke_ingress_webhook(project_id, webhook_id):
    """Delete (revoke) a custom webhook: it and its URL answer 404 from now on; its activities stay."""
    manage.revoke_ingress_url(_project_ingress_url(project_id, webhook_id))
    return "", 204


@bp.get("/activities")
@documented(query=activity_filter_schema, responses={200: activity_list_schema}, tags=TAGS)
def list_activities():
    """List activities, latest startTime first, by project, member and a window on startTime."""
    args = list_args(activity_filter_schema)
    query = manage.activity_query(g.organization.id, args)
    activities, next_cursor = paginate_by_time(
        query, Activity.start_time, Activity.id, limit=args["limit"], cursor=args["cursor"]
    )
    return {"activities": activity_schema.dump(activities, many=True), "next_cursor": next_cursor}


@bp.get("/activities/<activity_id>")
@documented(responses={200: activity_schema}, errors=(404,), tags=TAGS)
def get_activity(activity_id):
    """Show one activity (404 until the worker has stored it)."""
    hint = " (an activity just accepted is readable once the worker stores it)"
    return activity_schema.dump(
        get_owned_or_404(Activity.select(Activity, Member).join(Member), activity_id, "activity", hint)
    )
