"""Integrations → Custom webhooks: projects and their webhooks (URL shown once, rotate, revoke), members
(and who of them may sign in: invite, remove access), and the activity list with its filters."""

import functools

from flask import g, redirect, request, url_for

from hookyard.activities import manage
from hookyard.activities.schemas import activity_filter_schema
from hookyard.core.errors import ApiError
from hookyard.core.http import get_owned_or_404
from hookyard.dashboard import accounts
from hookyard.dashboard.blueprint import bp, page, sessions
from hookyard.dashboard.listing import list_page, next_page_url, page_of
from hookyard.dashboard.reveal import redirect_showing, take
from models import Activity, IngressUrl, Member, Project


def _members() -> list[Member]:
    return list(Member.select().where(Member.organization == g.organization).order_by(Member.email))


@bp.get("/integrations")
def integrations_page(status: int = 200, **extra):
    extra = {**take(), **extra}
    projects, cursor = page_of(Project.select().where(Project.organization == g.organization), Project.id)
    context = {"projects": projects, "members": _members(), "next_url": next_page_url(cursor)}
    return page("integrations/index.html", status, **context, **extra)


@bp.post("/integrations/projects")
def create_project():
    name = request.form.get("name", "").strip()
    if not 1 <= len(name) <= 255:
        return integrations_page(400, errors=["Give the project a name (up to 255 characters)."])
    project = manage.create_project(g.organization, name)
    return redirect(url_for("dashboard.project_page", project_id=project.id))


@bp.post("/integrations/members")
def add_member():
    """Add a member; with a role, they may sign in too, with a password shown here once to pass on."""
    email, name, role = (request.form.get(k, "").strip() for k in ("email", "name", "role"))
    if "@" not in email or not name:
        return integrations_page(400, errors=["A member needs an email address and a name."])
    existing = Member.get_or_none((Member.organization == g.organization) & (Member.email == email.lower()))
    if existing is None:
        try:
            manage.add_member(g.organization, email, name)
        except ApiError as error:
            return integrations_page(error.status, errors=[error.message])
    if role not in accounts.ROLES:
        return redirect_showing("dashboard.integrations_page", {"notice": f"{email} is a member."})
    password = accounts.generate_password()
    member = accounts.create_user(g.organization.id, email, role, password, name)
    sessions().end_all(member.id)
    return redirect_showing("dashboard.integrations_page", {"invited": member.email, "password": password})


@bp.post("/integrations/members/<member_id>/access")
def remove_access(member_id):
    """Stop a member from signing in (their sessions end now); they stay a member for their activities."""
    member = get_owned_or_404(Member, member_id, "member")
    if member.id == g.member.id:
        return integrations_page(400, errors=["You cannot remove your own access."])
    member.role, member.password_hash = None, None
    member.save(only=[Member.role, Member.password_hash])
    sessions().end_all(member.id)
    return redirect_showing("dashboard.integrations_page", {"notice": f"{member.email} can no longer sign in."})


def _project_page(project: Project, status: int = 200, **extra):
    webhooks = list(
        IngressUrl.select(IngressUrl, Member)
        .join(Member)
        .where((IngressUrl.project == project) & IngressUrl.revoked_at.is_null())
        .order_by(IngressUrl.id.desc())
    )
    return page("integrations/project.html", status, project=project, webhooks=webhooks, members=_members(), **extra)


@bp.get("/integrations/projects/<project_id>")
def project_page(project_id):
    return _project_page(get_owned_or_404(Project, project_id, "project"), **take())


def _own_ingress(project: Project, webhook_id: str) -> IngressUrl:
    found = IngressUrl.get_or_none(
        (IngressUrl.id == webhook_id) & (IngressUrl.project == project) & IngressUrl.revoked_at.is_null()
    )
    if found is None:
        raise ApiError(f"No webhook {webhook_id} in this project.", code="not_found", status=404)
    return found


@bp.post("/integrations/projects/<project_id>/webhooks")
def create_custom_webhook(project_id):
    project = get_owned_or_404(Project, project_id, "project")
    name = request.form.get("name", "").strip()
    if not 1 <= len(name) <= 255:
        return _project_page(project, 400, errors=["Give the webhook a name."])
    try:
        creator = manage.member_by_email(g.organization, request.form.get("created_by", ""), "created_by")
    except ApiError as error:
        return _project_page(project, 400, errors=[message for each in error.errors.values() for message in each])
    ingress, url = manage.create_ingress_url(g.organization, project, name, creator)
    return _show_url(project, ingress, url, rotated=False)


def _show_url(project: Project, ingress: IngressUrl, url: str, rotated: bool):
    shown = {"url": url, "name": ingress.name, "creator": ingress.created_by.email, "rotated": rotated}
    return redirect_showing("dashboard.project_page", shown, project_id=project.id)


@bp.post("/integrations/projects/<project_id>/webhooks/<webhook_id>/rotate")
def rotate_custom_webhook(project_id, webhook_id):
    project = get_owned_or_404(Project, project_id, "project")
    ingress = _own_ingress(project, webhook_id)
    return _show_url(project, ingress, manage.rotate_ingress_url(ingress), rotated=True)


@bp.post("/integrations/projects/<project_id>/webhooks/<webhook_id>/revoke")
def revoke_custom_webhook(project_id, webhook_id):
    project = get_owned_or_404(Project, project_id, "project")
    manage.revoke_ingress_url(_own_ingress(project, webhook_id))
    notice = "Webhook revoked: its URL answers 404 from now on; its activities stay."
    return redirect_showing("dashboard.project_page", {"notice": notice}, project_id=project.id)


@bp.get("/integrations/activities")
def activities_page():
    projects = {p.id: p.name for p in Project.select().where(Project.organization == g.organization)}
    query_for = functools.partial(manage.activity_query, g.organization.id)
    return list_page("integrations/activities.html", "activities", query_for, Activity.id,
                     schema=activity_filter_schema, time_field=Activity.start_time, projects=projects)  # fmt: skip
