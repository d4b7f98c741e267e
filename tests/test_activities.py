"""Activity ingress: members, projects, custom webhooks, and Activities posted to a secret URL."""

import json
import threading
import time
import urllib.parse

import pytest
from standardwebhooks.webhooks import Webhook

# The seed's example, as a custom CRM would send it with curl.
SEED_ACTIVITY = {
    "title": "Customer Inquiry Handled",
    "description": "Resolved billing question for customer #4521",
    "startTime": "2024-01-15T10:30:00Z",
    "endTime": "2024-01-15T10:45:00Z",
    "trigger": "phone_call",
    "event": "support_call_completed",
    "memberEmail": "agent@example.com",
    "externalId": "call-log-9876",
    "metadata": {"callDuration": 900, "customerSatisfaction": 5},
}


@pytest.fixture
def project(client, org):
    """A project with two members and a custom webhook created by the first; its URL and path."""
    for email, name in (("agent@example.com", "Alex Agent"), ("owner@example.com", "Olive Owner")):
        response = client.post("/v1/members", json={"email": email, "name": name}, headers=org["headers"])
        assert response.status_code == 201, response.data
    created = client.post("/v1/projects", json={"name": "Support"}, headers=org["headers"]).get_json()
    hook = client.post(f"/v1/projects/{created['id']}/webhooks",
                       json={"name": "Call center", "created_by": "owner@example.com"}, headers=org["headers"])
    assert hook.status_code == 201, hook.data
    webhook = hook.get_json()
    return {**created, "webhook": webhook, "path": urllib.parse.urlsplit(webhook["url"]).path}


def post_activity(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def get_activity(client, org, activity_id):
    return client.get(f"/v1/activities/{activity_id}", headers=org["headers"])


def test_the_seed_example_is_accepted_and_stored(client, org, project, run_jobs):
    response = post_activity(client, project["path"], SEED_ACTIVITY)
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"id", "message"} and body["message"] == "Activity received"
    assert body["id"].startswith("act_")
    assert get_activity(client, org, body["id"]).status_code == 404  # not stored until the worker runs
    run_jobs()
    stored = get_activity(client, org, body["id"]).get_json()
    assert stored["title"] == "Customer Inquiry Handled" and stored["externalId"] == "call-log-9876"
    assert stored["startTime"] == "2024-01-15T10:30:00.000Z" and stored["endTime"] == "2024-01-15T10:45:00.000Z"
    assert stored["memberEmail"] == "agent@example.com" and stored["projectId"] == project["id"]
    assert stored["metadata"] == {"callDuration": 900, "customerSatisfaction": 5}
    assert stored["trigger"] == "phone_call" and stored["event"] == "support_call_completed"


def test_the_webhook_url_is_shown_once_and_stored_only_as_a_hash(app, client, org, project):
    webhook = project["webhook"]
    assert webhook["url"].startswith("http://localhost/webhooks/ingress/hy_ingress_")
    assert set(webhook) >= {"id", "name", "project_id", "url", "created_by", "created_at"}
    assert webhook["created_by"] == "owner@example.com" and webhook["project_id"] == project["id"]
    listed = client.get(f"/v1/projects/{project['id']}/webhooks", headers=org["headers"]).get_json()["webhooks"]
    one = client.get(f"/v1/projects/{project['id']}/webhooks/{webhook['id']}", headers=org["headers"]).get_json()
    token = webhook["url"].rsplit("/", 1)[1]
    for shown in (listed[0], one):
        assert "url" not in shown and token not in json.dumps(shown) and shown["active"] is True
    stored = app.database.execute_sql("SELECT token_hash FROM ingress_webhook").fetchall()
    assert stored and all(token not in row[0] for row in stored)


def test_the_member_defaults_to_the_webhook_creator(client, org, project, run_jobs):
    body = {k: v for k, v in SEED_ACTIVITY.items() if k != "memberEmail"}
    activity_id = post_activity(client, project["path"], body).get_json()["id"]
    run_jobs()
    assert get_activity(client, org, activity_id).get_json()["memberEmail"] == "owner@example.com"


def test_a_member_email_is_matched_whatever_its_case(client, org, project, run_jobs):
    activity_id = post_activity(client, project["path"], {**SEED_ACTIVITY, "memberEmail": "Agent@Example.COM"}
                                ).get_json()["id"]
    run_jobs()
    assert get_activity(client, org, activity_id).get_json()["memberEmail"] == "agent@example.com"


MISSING = object()


@pytest.mark.parametrize("change, field", [
    ({"title": MISSING}, "title"),
    ({"title": None}, "title"),
    ({"title": ""}, "title"),
    ({"title": "x" * 256}, "title"),
    ({"title": 42}, "title"),
    ({"startTime": MISSING}, "startTime"),
    ({"startTime": None}, "startTime"),
    ({"startTime": "yesterday"}, "startTime"),
    ({"startTime": "2024-13-45T99:00:00Z"}, "startTime"),
    ({"endTime": "2024-01-15T10:00:00Z"}, "endTime"),  # before startTime
    ({"memberEmail": "not-an-email"}, "memberEmail"),
    ({"memberEmail": "stranger@example.com"}, "memberEmail"),  # not a member
    ({"externalId": "x" * 256}, "externalId"),
    ({"metadata": ["not", "an", "object"]}, "metadata"),
    ({"priority": "high"}, "priority"),  # unknown field
])
def test_each_invalid_field_is_named_in_a_400(client, project, change, field):
    body = {key: value for key, value in {**SEED_ACTIVITY, **change}.items() if value is not MISSING}
    response = post_activity(client, project["path"], body)
    assert response.status_code == 400, response.data
    error = response.get_json()
    assert error["error"] == "validation_failed" and list(error["errors"]) == [field], error


def test_every_bad_field_is_named_at_once(client, project):
    response = post_activity(client, project["path"], {"startTime": "soon", "color": "red"})
    assert response.status_code == 400
    assert set(response.get_json()["errors"]) == {"title", "startTime", "color"}


@pytest.mark.parametrize("body, content_type, code", [
    (b"{not json", "application/json", "invalid_json"),
    (b"[1, 2]", "application/json", "invalid_json"),
    (b'{"title": "\xff"}', "application/json", "invalid_json"),
    (b"title=x", "application/x-www-form-urlencoded", "unsupported_media_type"),
])
def test_a_body_that_is_not_a_json_object_is_refused(client, project, body, content_type, code):
    response = client.post(project["path"], data=body, content_type=content_type)
    assert response.status_code in (400, 415) and response.get_json()["error"] == code


def test_a_body_over_the_limit_is_a_413(client, project, config):
    body = {**SEED_ACTIVITY, "description": "x" * (config.max_body_bytes + 1)}
    response = post_activity(client, project["path"], body)
    assert response.status_code == 413 and response.get_json()["error"] == "payload_too_large"


def test_an_unknown_token_is_a_404(client, project):
    response = post_activity(client, "/webhooks/ingress/hy_ingress_" + "A" * 32, SEED_ACTIVITY)
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_the_same_external_id_updates_the_same_activity(client, org, project, run_jobs):
    first = post_activity(client, project["path"], SEED_ACTIVITY).get_json()["id"]
    run_jobs()
    second = post_activity(client, project["path"], {**SEED_ACTIVITY, "title": "Inquiry escalated"}).get_json()["id"]
    assert second == first
    run_jobs()
    activities = client.get("/v1/activities", headers=org["headers"]).get_json()["activities"]
    assert [a["id"] for a in activities] == [first] and activities[0]["title"] == "Inquiry escalated"


def test_concurrent_repeats_of_an_external_id_make_one_row(app, client, org, project, worker_process):
    """Eight requests at once, stored by two worker processes at once: one activity."""
    answers = []

    def send(n):
        with app.test_client() as own:
            answers.append(post_activity(own, project["path"], {**SEED_ACTIVITY, "title": f"v{n}"}).get_json())

    senders = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    assert len(answers) == 8 and len({answer["id"] for answer in answers}) == 1
    worker_process()
    worker_process()
    deadline = time.monotonic() + 30
    while (app.queues["default"].count or app.queues["default"].started_job_registry.count) and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    rows = app.database.execute_sql("SELECT id, title FROM activity").fetchall()
    assert len(rows) == 1 and rows[0][0] == answers[0]["id"]
    assert client.get(f"/v1/activities/{rows[0][0]}", headers=org["headers"]).get_json()["externalId"] == \
        "call-log-9876"


def test_the_same_external_id_on_another_webhook_is_another_activity(client, org, project, run_jobs):
    other = client.post(f"/v1/projects/{project['id']}/webhooks",
                        json={"name": "CRM", "created_by": "owner@example.com"}, headers=org["headers"]).get_json()
    first = post_activity(client, project["path"], SEED_ACTIVITY).get_json()["id"]
    second = post_activity(client, urllib.parse.urlsplit(other["url"]).path, SEED_ACTIVITY).get_json()["id"]
    assert first != second
    run_jobs()
    assert len(client.get("/v1/activities", headers=org["headers"]).get_json()["activities"]) == 2


def test_an_older_version_arriving_late_does_not_overwrite_a_newer_one(app, client, org, project, run_jobs):
    first = post_activity(client, project["path"], {**SEED_ACTIVITY, "title": "old"}).get_json()["id"]
    post_activity(client, project["path"], {**SEED_ACTIVITY, "title": "new"})
    # Run the second job before the first, as two workers might.
    queue = app.queues["default"]
    jobs = queue.get_jobs()
    queue.empty()
    for job in reversed(jobs):
        queue.enqueue_job(job)
    run_jobs()
    assert get_activity(client, org, first).get_json()["title"] == "new"


def test_rotation_replaces_the_url_at_once(client, org, project, run_jobs):
    webhook = project["webhook"]
    rotated = client.post(f"/v1/projects/{project['id']}/webhooks/{webhook['id']}/rotate", headers=org["headers"])
    assert rotated.status_code == 200
    new_url = rotated.get_json()["url"]
    assert new_url != webhook["url"] and rotated.get_json()["id"] == webhook["id"]
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
    assert response.status_code == 404 and "revoked" in response.get_json()["message"]
    assert get_activity(client, org, activity_id).status_code == 200
    listed = client.get(f"/v1/projects/{project['id']}/webhooks", headers=org["headers"]).get_json()["webhooks"]
    assert listed[0]["active"] is False and listed[0]["revoked_at"]
    again = client.post(f"/v1/projects/{project['id']}/webhooks/{webhook['id']}/rotate", headers=org["headers"])
    assert again.status_code == 404


def test_activities_filter_by_project_member_and_time_window(client, org, project, run_jobs):
    other = client.post("/v1/projects", json={"name": "Sales"}, headers=org["headers"]).get_json()
    other_hook = client.post(f"/v1/projects/{other['id']}/webhooks",
                             json={"name": "x", "created_by": "agent@example.com"}, headers=org["headers"]).get_json()
    for day, member in ((10, "agent@example.com"), (11, "owner@example.com"), (12, "agent@example.com")):
        post_activity(client, project["path"], {"title": f"day {day}", "startTime": f"2024-02-{day}T09:00:00Z",
                                                "memberEmail": member})
    post_activity(client, urllib.parse.urlsplit(other_hook["url"]).path,
                  {"title": "sales call", "startTime": "2024-02-11T09:00:00Z"})
    run_jobs()

    def titles(query):
        response = client.get(f"/v1/activities?{query}", headers=org["headers"])
        assert response.status_code == 200, response.data
        return [a["title"] for a in response.get_json()["activities"]]

    assert titles("") == ["day 12", "day 11", "sales call", "day 10"] or titles("") == [
        "day 12", "sales call", "day 11", "day 10"]
    assert titles(f"project_id={project['id']}") == ["day 12", "day 11", "day 10"]
    assert titles("member_email=agent@example.com") == ["day 12", "sales call", "day 10"]
    assert titles("since=2024-02-11T00:00:00Z&until=2024-02-12T00:00:00Z") in (["day 11", "sales call"],
                                                                                ["sales call", "day 11"])
    assert titles(f"project_id={project['id']}&member_email=agent@example.com&since=2024-02-11T00:00:00Z") == [
        "day 12"]
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
    assert again.status_code == 409 and again.get_json()["error"] == "member_exists"
    bad = client.post("/v1/members", json={"email": "nope", "name": ""}, headers=org["headers"])
    assert bad.status_code == 400 and set(bad.get_json()["errors"]) == {"email", "name"}
    hook = client.post(f"/v1/projects/{project['id']}/webhooks", json={"name": "x", "created_by": "who@example.com"},
                       headers=org["headers"])
    assert hook.status_code == 400 and list(hook.get_json()["errors"]) == ["created_by"]
    assert client.post("/v1/projects/proj_missing/webhooks", json={"name": "x", "created_by": "agent@example.com"},
                       headers=org["headers"]).status_code == 404
    members = client.get("/v1/members", headers=org["headers"]).get_json()["members"]
    assert sorted(m["email"] for m in members) == ["agent@example.com", "owner@example.com"]


def test_activities_publish_created_then_updated_events(client, org, project, receiver, run_jobs, config):
    hook = client.post("/v1/webhooks", json={"url": receiver.url(), "events": ["activity.*"]},
                       headers=org["headers"]).get_json()
    post_activity(client, project["path"], SEED_ACTIVITY)
    run_jobs()
    post_activity(client, project["path"], {**SEED_ACTIVITY, "title": "Inquiry escalated"})
    run_jobs()
    received = [json.loads(r["body"]) for r in receiver.received()]
    assert [event["type"] for event in received] == ["activity.created", "activity.updated"]
    assert received[1]["data"]["title"] == "Inquiry escalated" and received[1]["data"]["externalId"] == "call-log-9876"
    request = receiver.received()[0]
    headers = {name.lower(): value for name, value in request["headers"].items()}
    Webhook(hook["secret"]).verify(request["body"], headers)  # raises if the signature is wrong


def test_a_rerun_of_the_store_job_changes_nothing_and_publishes_nothing(app, client, org, project, receiver,
                                                                        run_jobs):
    client.post("/v1/webhooks", json={"url": receiver.url(), "events": ["activity.*"]}, headers=org["headers"])
    post_activity(client, project["path"], SEED_ACTIVITY)
    job = app.queues["default"].get_jobs()[0]
    run_jobs()
    app.queues["default"].enqueue_job(job)  # at-least-once: the same job again
    run_jobs()
    assert [json.loads(r["body"])["type"] for r in receiver.received()] == ["activity.created"]
    assert app.database.execute_sql("SELECT count(*) FROM activity").fetchone()[0] == 1


def test_the_token_is_redacted_from_access_logs(project):
    from hookyard.core.redaction import redact

    line = f'"POST {project["path"]} HTTP/1.1" 202'
    token = project["path"].rsplit("/", 1)[1]
    assert token not in redact(line) and "hy_ingress_[redacted]" in redact(line)
