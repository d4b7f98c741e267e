"""Integrations: projects, members and invitations, custom webhooks (URL once, rotate, revoke), activities."""

import re
import urllib.parse

from models import Member, Project
from tests.dashboard.conftest import post_form, sign_in
from tests.helpers import SEED_ACTIVITY, post_activity

INTEGRATIONS = "/dashboard/integrations"


def test_a_project_gets_a_webhook_whose_url_is_shown_once_and_takes_activities(admin, client, run_jobs):
    created = post_form(admin, "/dashboard/integrations/projects", {"name": "Support"}, page=INTEGRATIONS, follow=False)
    assert created.status_code == 302
    project = Project.get(Project.name == "Support")
    page = f"/dashboard/integrations/projects/{project.id}"
    answer = post_form(admin, f"{page}/webhooks", {"name": "Call center", "created_by": "admin@example.com"}, page=page)
    text = answer.get_data(as_text=True)
    url = re.search(r'id="ingress-url" readonly value="([^"]+)"', text).group(1)
    assert "curl -X POST" in text
    assert url not in admin.get(page).get_data(as_text=True)  # shown once
    accepted = post_activity(
        client, urllib.parse.urlsplit(url).path, {**SEED_ACTIVITY, "memberEmail": "admin@example.com"}
    )
    assert accepted.status_code == 202
    run_jobs()
    activities = admin.get(f"/dashboard/integrations/activities?project_id={project.id}").get_data(as_text=True)
    assert "Customer Inquiry Handled" in activities


def test_rotate_and_revoke_a_custom_webhook(admin, client, project):
    page = f"/dashboard/integrations/projects/{project['id']}"
    hook = project["webhook"]["id"]
    rotated = post_form(admin, f"{page}/webhooks/{hook}/rotate", page=page).get_data(as_text=True)
    new_url = re.search(r'id="ingress-url" readonly value="([^"]+)"', rotated).group(1)
    assert post_activity(client, project["path"], SEED_ACTIVITY).status_code == 404
    assert post_activity(client, urllib.parse.urlsplit(new_url).path, SEED_ACTIVITY).status_code == 202
    post_form(admin, f"{page}/webhooks/{hook}/revoke", page=page)
    assert post_activity(client, urllib.parse.urlsplit(new_url).path, SEED_ACTIVITY).status_code == 404
    assert post_form(admin, f"{page}/webhooks/{hook}/rotate", page=page).status_code == 404


def test_an_admin_invites_a_viewer_who_signs_in_with_the_password_shown_once(app, admin, org):
    form = {"email": "new@example.com", "name": "New Person", "role": "viewer"}
    text = post_form(admin, "/dashboard/integrations/members", form, page=INTEGRATIONS).get_data(as_text=True)
    password = re.search(r'id="invite-password" readonly value="([^"]+)"', text).group(1)
    invited = app.test_client()
    assert sign_in(invited, "new@example.com", password).status_code == 302
    assert invited.get("/dashboard/").status_code == 200
    member = Member.get(Member.email == "new@example.com")
    post_form(admin, f"/dashboard/integrations/members/{member.id}/access", page="/dashboard/integrations")
    assert invited.get("/dashboard/").status_code == 302  # signed out at once
    assert sign_in(app.test_client(), "new@example.com", password).status_code == 401


def test_a_member_without_a_role_is_only_a_member(admin, client, org):
    post_form(admin, "/dashboard/integrations/members", {"email": "agent@x.io", "name": "Agent"}, page=INTEGRATIONS)
    member = Member.get(Member.email == "agent@x.io")
    assert member.role is None and member.password_hash is None
    again = post_form(admin, "/dashboard/integrations/members", {"email": "", "name": ""}, page=INTEGRATIONS)
    assert again.status_code == 400


def test_a_viewer_sees_integrations_but_changes_nothing(admin, viewer, project):
    page = f"/dashboard/integrations/projects/{project['id']}"
    assert viewer.get(page).status_code == 200
    assert "Create a webhook" not in viewer.get(page).get_data(as_text=True)
    hook = project["webhook"]["id"]
    for path in (
        "/dashboard/integrations/projects",
        "/dashboard/integrations/members",
        f"{page}/webhooks",
        f"{page}/webhooks/{hook}/rotate",
        f"{page}/webhooks/{hook}/revoke",
    ):
        assert post_form(viewer, path, {"name": "x"}, page="/dashboard/").status_code == 403


def test_another_organizations_project_is_a_404(admin, client, other_org):
    theirs = client.post("/v1/projects", json={"name": "Theirs"}, headers=other_org["headers"]).get_json()
    assert admin.get(f"/dashboard/integrations/projects/{theirs['id']}").status_code == 404
    assert "Theirs" not in admin.get("/dashboard/integrations").get_data(as_text=True)
