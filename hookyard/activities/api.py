"""Activity ingress, management side: members, projects, their custom webhooks, and reading activities."""

import peewee
from flask import Blueprint, g

from hookyard.activities.ingress import TOKEN_PREFIX, ingress_url
from hookyard.activities.schemas import (
    ActivityFilterSchema,
    ActivityListSchema,
    ActivitySchema,
    IngressWebhookCreatedSchema,
    IngressWebhookCreateSchema,
    IngressWebhookListSchema,
    IngressWebhookSchema,
    MemberCreateSchema,
    MemberListSchema,
    MemberSchema,
    ProjectCreateSchema,
    ProjectListSchema,
    ProjectSchema,
    activity_filter_schema,
    activity_schema,
    ingress_webhook_create_schema,
    ingress_webhook_schema,
    member_create_schema,
    member_schema,
    project_create_schema,
    project_schema,
)
from hookyard.core.clock import utcnow
from hookyard.core.common import authenticate_management, list_args, load_body
from hookyard.core.credentials import display_prefix, hash_credential, new_credential, new_public_id
from hookyard.core.db import db
from hookyard.core.errors import Conflict, NotFound, ValidationFailed
from hookyard.core.openapi import documented
from hookyard.core.pagination import paginate, paginate_by_time
from models import Activity, IngressWebhook, Member, Project
from schemas import ListArgsSchema

bp = Blueprint("activities", __name__, url_prefix="/v1")
bp.before_request(authenticate_management)

TAGS = ("activities",)


def _member_by_email(email: str, field: str) -> Member:
    member = Member.get_or_none((Member.organization == g.organization) & (Member.email == email.strip().lower()))
    if member is None:
        raise ValidationFailed({field: [f"{email} is not a member of this organization (add it: POST /v1/members)."]})
    return member


def _own_project(project_id: str) -> Project:
    project = Project.get_or_none((Project.id == project_id) & (Project.organization == g.organization))
    if project is None:
        raise NotFound(f"No project {project_id}.")
    return project


def _own_webhook(project: Project, webhook_id: str) -> IngressWebhook:
    webhook = (IngressWebhook.select(IngressWebhook, Member).join(Member)
               .where((IngressWebhook.id == webhook_id) & (IngressWebhook.project == project)).first())
    if webhook is None:
        raise NotFound(f"No webhook {webhook_id} in project {project.id}.")
    return webhook


@bp.post("/members")
@documented(body=MemberCreateSchema, responses={201: MemberSchema}, errors=(409,), tags=TAGS)
def create_member():
    """Add a member: the person activities are attributed to."""
    data = load_body(member_create_schema)
    try:
        with db.atomic():
            member = Member.create(id=new_public_id("mem_"), organization=g.organization,
                                   email=data["email"].strip().lower(), name=data["name"])
    except peewee.IntegrityError:
        raise Conflict(f"{data['email']} is already a member.", code="member_exists") from None
    return member_schema.dump(member), 201


@bp.get("/members")
@documented(query=ListArgsSchema, responses={200: MemberListSchema}, tags=TAGS)
def list_members():
    """List the organization's members, newest first."""
    args = list_args()
    query = Member.select().where(Member.organization == g.organization)
    members, next_cursor = paginate(query, Member.id, limit=args["limit"], cursor=args["cursor"])
    return {"members": member_schema.dump(members, many=True), "next_cursor": next_cursor}


@bp.post("/projects")
@documented(body=ProjectCreateSchema, responses={201: ProjectSchema}, tags=TAGS)
def create_project():
    """Create a project: activities arrive on its webhooks."""
    data = load_body(project_create_schema)
    project = Project.create(id=new_public_id("proj_"), organization=g.organization, name=data["name"])
    return project_schema.dump(project), 201


@bp.get("/projects")
@documented(query=ListArgsSchema, responses={200: ProjectListSchema}, tags=TAGS)
def list_projects():
    """List the organization's projects, newest first."""
    args = list_args()
    query = Project.select().where(Project.organization == g.organization)
    projects, next_cursor = paginate(query, Project.id, limit=args["limit"], cursor=args["cursor"])
    return {"projects": project_schema.dump(projects, many=True), "next_cursor": next_cursor}


@bp.get("/projects/<project_id>")
@documented(responses={200: ProjectSchema}, errors=(404,), tags=TAGS)
def get_project(project_id):
    """Show one project."""
    return project_schema.dump(_own_project(project_id))


@bp.post("/projects/<project_id>/webhooks")
@documented(body=IngressWebhookCreateSchema, responses={201: IngressWebhookCreatedSchema}, errors=(404,), tags=TAGS)
def create_ingress_webhook(project_id):
    """Create a custom webhook; its URL is the only credential and is shown only in this answer."""
    project = _own_project(project_id)
    data = load_body(ingress_webhook_create_schema)
    creator = _member_by_email(data["created_by"], "created_by")
    token = new_credential(TOKEN_PREFIX)
    webhook = IngressWebhook.create(id=new_public_id("cwh_"), organization=g.organization, project=project,
                                    name=data["name"], created_by=creator, token_hash=hash_credential(token),
                                    token_prefix=display_prefix(token, 16))
    return {**ingress_webhook_schema.dump(webhook), "url": ingress_url(token)}, 201


@bp.get("/projects/<project_id>/webhooks")
@documented(query=ListArgsSchema, responses={200: IngressWebhookListSchema}, errors=(404,), tags=TAGS)
def list_ingress_webhooks(project_id):
    """List a project's custom webhooks, revoked ones included (never their URLs)."""
    project = _own_project(project_id)
    args = list_args()
    query = (IngressWebhook.select(IngressWebhook, Member).join(Member)
             .where(IngressWebhook.project == project))
    webhooks, next_cursor = paginate(query, IngressWebhook.id, limit=args["limit"], cursor=args["cursor"])
    return {"webhooks": ingress_webhook_schema.dump(webhooks, many=True), "next_cursor": next_cursor}


@bp.get("/projects/<project_id>/webhooks/<webhook_id>")
@documented(responses={200: IngressWebhookSchema}, errors=(404,), tags=TAGS)
def get_ingress_webhook(project_id, webhook_id):
    """Show one custom webhook (never its URL)."""
    return ingress_webhook_schema.dump(_own_webhook(_own_project(project_id), webhook_id))


@bp.post("/projects/<project_id>/webhooks/<webhook_id>/rotate")
@documented(responses={200: IngressWebhookCreatedSchema}, errors=(404,), tags=TAGS)
def rotate_ingress_webhook(project_id, webhook_id):
    """Issue a new URL; the old one stops working at once (rotate when it may have leaked)."""
    webhook = _own_webhook(_own_project(project_id), webhook_id)
    if webhook.revoked_at is not None:
        raise NotFound(f"Webhook {webhook_id} was revoked; create a new one.")
    token = new_credential(TOKEN_PREFIX)
    webhook.token_hash, webhook.token_prefix = hash_credential(token), display_prefix(token, 16)
    webhook.rotated_at = utcnow()
    webhook.save()
    return {**ingress_webhook_schema.dump(webhook), "url": ingress_url(token)}


@bp.delete("/projects/<project_id>/webhooks/<webhook_id>")
@documented(responses={204: None}, errors=(404,), tags=TAGS)
def revoke_ingress_webhook(project_id, webhook_id):
    """Revoke a custom webhook: its URL answers 404 from now on; its activities stay."""
    webhook = _own_webhook(_own_project(project_id), webhook_id)
    if webhook.revoked_at is None:
        webhook.revoked_at = utcnow()
        webhook.save()
    return "", 204


@bp.get("/activities")
@documented(query=ActivityFilterSchema, responses={200: ActivityListSchema}, tags=TAGS)
def list_activities():
    """List activities, latest startTime first, by project, member and a window on startTime."""
    args = list_args(activity_filter_schema)
    query = (Activity.select(Activity, Member).join(Member)
             .where(Activity.organization == g.organization))
    if "project_id" in args:
        query = query.where(Activity.project == args["project_id"])
    if "member_email" in args:
        query = query.where(Member.email == args["member_email"].strip().lower())
    if "since" in args:
        query = query.where(Activity.start_time >= args["since"])
    if "until" in args:
        query = query.where(Activity.start_time < args["until"])
    activities, next_cursor = paginate_by_time(query, Activity.start_time, Activity.id, limit=args["limit"],
                                               cursor=args["cursor"])
    return {"activities": activity_schema.dump(activities, many=True), "next_cursor": next_cursor}


@bp.get("/activities/<activity_id>")
@documented(responses={200: ActivitySchema}, errors=(404,), tags=TAGS)
def get_activity(activity_id):
    """Show one activity (404 until the worker has stored it)."""
    activity = (Activity.select(Activity, Member).join(Member)
                .where((Activity.id == activity_id) & (Activity.organization == g.organization)).first())
    if activity is None:
        raise NotFound(f"No activity {activity_id} (an activity just accepted is readable once the worker stores it).")
    return activity_schema.dump(activity)
