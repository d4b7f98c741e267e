"""Managing activity ingress: webhook URLs shown once, rotated and revoked; activities listed; members."""

import json
import urllib.parse

from tests.helpers import SEED_ACTIVITY, get_activity, post_activity


def test_the_webhook_url_is_shown_once_and_stored_only_as_a_hash(app, client, org, project):
    webhook = project["webhook"]
    assert webhook["url"].startswith("http://localhost/webhooks/ingress/hy_ingress_")
    assert set(webhook) >= {"id", "name", "project_id", "url", "created_by", "created_at"}
    assert webhook["created_by"] == "owner@example.com"
    assert webhook["project_id"] == project["id"]
    listed = client.get(f"/v1/projects/{project['id']}/webhooks", headers=org["headers"]).get_json()["webhooks"]
    one = client.get(f"/v1/projects/{project['id']}/webhooks/{webhook['id']}", headers=org["headers"]).get_json()
    token = webhook["url"].rsplit("/", 1)[1]
    for shown in (listed[0], one):
        assert "url" not in shown
        assert token not in json.dumps(shown)
        assert shown["active"] is True
    stored = app.database.execute_sql("SELECT token_hash FROM ingress_webhook").fetchall()
    assert stored
    assert all(token not in row[0] for row in stored)


def test_rotation_replaces_the_url_at_once(client, org, project, run_jobs):
    webhook = project["webhook"]
    rotated = client.post(f"/v1/projects/{project['id']}/webhooks/{webhook['id']}/rotate", headers=org["headers"])
    assert rotated.status_code == 200
    new_url = rotated.get_json()["url"]
    assert new_url != webhook["url"]
    assert rotated.get_json()["id"] == webhook["id"]
    assert post_activity(client, project["path"], SEED_ACTIVITY).status_code == 404
    accepted = post_activity(client, urllib.parse.urlsplit(new_url).path, SEED_ACTIVITY)
    assert accepted.status_code == 202
    run_jobs()
    assert get_activity(client, org, accepted.get_json()["id"]).status_code == 200


def test_revocation_makes_the_url_a_404_and_keeps_the_activities(client, org, project, run_jobs):
    webhook = project["webhook"]
    activity_id = post_activity(client, project["path"], SEED_ACTIVITY).get_json()["id"]
    run_jobs()
    revoked = client.delete(f"/v1/projects/{project['id']}/webhooks/{webhook['id']}", headers=org["headers"])
    assert revoked.status_code == 204
    response = post_activity(client, project["path"], SEED_ACTIVITY)
    assert response.status_code == 404
    assert "revoked" in response.get_json()["message"]
    assert get_activity(client, org, activity_id).status_code == 200
    webhooks = f"/v1/projects/{project['id']}/webhooks"
    assert client.get(webhooks, headers=org["headers"]).get_json()["webhooks"] == []
    listed = client.get(f"{webhooks}?include_revoked=true", headers=org["headers"]).get_json()["webhooks"]
    assert listed[0]["active"] is False
    assert listed[0]["revoked_at"]
    for method, path in (("get", ""), ("post", "/rotate"), ("delete", "")):
        again = getattr(client, method)(f"{webhooks}/{webhook['id']}{path}", headers=org["headers"])
        assert again.status_code == 404
        assert "was deleted" in again.get_json()["message"]


def test_activities_filter_by_project_member_and_time_window(client, org, project, run_jobs):
    other = client.post("/v1/projects", json={"name": "Sales"}, headers=org["headers"]).get_json()
    other_hook = client.post(
        f"/v1/projects/{other['id']}/webhooks",
        json={"name": "x", "created_by": "agent@example.com"},
        headers=org["headers"],
    ).get_json()
    for day, member in ((10, "agent@example.com"), (11, "owner@example.com"), (12, "agent@example.com")):
        post_activity(
            client,
            project["path"],
            {"title": f"day {day}", "startTime": f"2024-02-{day}T09:00:00Z", "memberEmail": member},
        )
    post_activity(
        client,
        urllib.parse.urlsplit(other_hook["url"]).path,
        {"title": "sales call", "startTime": "2024-02-11T09:00:00Z"},
    )
    run_jobs()

    def titles(query):
        response = client.get(f"/v1/activities?{query}", headers=org["headers"])
        assert response.status_code == 200, response.data
        return [a["title"] for a in response.get_json()["activities"]]

    assert titles("") == ["day 12", "day 11", "sales call", "day 10"] or titles("") == [
        "day 12",
        "sales call",
        "day 11",
        "day 10",
    ]
    assert titles(f"project_id={project['id']}") == ["day 12", "day 11", "day 10"]
    assert titles("member_email=agent@example.com") == ["day 12", "sales call", "day 10"]
    assert titles("since=2024-02-11T00:00:00Z&until=2024-02-12T00:00:00Z") in (
        ["day 11", "sales call"],
        ["sales call", "day 11"],
    )
    assert titles(f"project_id={project['id']}&member_email=agent@example.com&since=2024-02-11T00:00:00Z") == ["day 12"]
    assert client.get("/v1/activities?since=soon", headers=org["headers"]).status_code == 400


def test_activities_page_through_by_start_time(client, org, project, run_jobs):
    for hour in range(7):
        post_activity(client, project["path"], {"title": f"h{hour}", "startTime": f"2024-03-01T0{hour}:00:00Z"})
    run_jobs()
    seen, cursor = [], None
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v1/activities?{query}", headers=org["headers"]).get_json()
        seen += [a["title"] for a in page["activities"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"h{hour}" for hour in reversed(range(7))]


def test_another_organization_sees_none_of_it(client, org, other_org, project, run_jobs):
    activity_id = post_activity(client, project["path"], SEED_ACTIVITY).get_json()["id"]
    run_jobs()
    headers = other_org["headers"]
    assert client.get(f"/v1/activities/{activity_id}", headers=headers).status_code == 404
    assert client.get("/v1/activities", headers=headers).get_json()["activities"] == []
    assert client.get(f"/v1/projects/{project['id']}", headers=headers).status_code == 404
    assert client.get(f"/v1/projects/{project['id']}/webhooks", headers=headers).status_code == 404
    assert client.get("/v1/members", headers=headers).get_json()["members"] == []


def test_members_are_unique_by_email_and_a_webhook_needs_a_member(client, org, project):
    again = client.post("/v1/members", json={"email": "AGENT@example.com", "name": "Again"}, headers=org["headers"])
    assert again.status_code == 409
    assert again.get_json()["error"] == "member_exists"
    bad = client.post("/v1/members", json={"email": "nope", "name": ""}, headers=org["headers"])
    assert bad.status_code == 400
    assert set(bad.get_json()["errors"]) == {"email", "name"}
    hook = client.post(
        f"/v1/projects/{project['id']}/webhooks",
        json={"name": "x", "created_by": "who@example.com"},
        headers=org["headers"],
    )
    assert hook.status_code == 400
    assert list(hook.get_json()["errors"]) == ["created_by"]
    assert (
        client.post(
            "/v1/projects/proj_missing/webhooks",
            json={"name": "x", "created_by": "agent@example.com"},
            headers=org["headers"],
        ).status_code
        == 404
    )
    members = client.get("/v1/members", headers=org["headers"]).get_json()["members"]
    assert sorted(m["email"] for m in members) == ["agent@example.com", "owner@example.com"]
