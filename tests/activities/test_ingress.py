"""Activity ingress: Activities posted to a project webhook's secret URL, checked, stored and published."""

import json
import urllib.parse

import pytest
from standardwebhooks.webhooks import Webhook

from tests.helpers import SEED_ACTIVITY, get_activity, post_activity


def test_the_seed_example_is_accepted_and_stored(client, org, project, run_jobs):
    response = post_activity(client, project["path"], SEED_ACTIVITY)
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"id", "message"}
    assert body["message"] == "Activity received"
    assert body["id"].startswith("act_")
    assert get_activity(client, org, body["id"]).status_code == 404  # not stored until the worker runs
    run_jobs()
    stored = get_activity(client, org, body["id"]).get_json()
    assert stored["title"] == "Customer Inquiry Handled"
    assert stored["externalId"] == "call-log-9876"
    assert stored["startTime"] == "2024-01-15T10:30:00.000Z"
    assert stored["endTime"] == "2024-01-15T10:45:00.000Z"
    assert stored["memberEmail"] == "agent@example.com"
    assert stored["projectId"] == project["id"]
    assert stored["webhookId"] == project["webhook"]["id"]
    assert stored["metadata"] == {"callDuration": 900, "customerSatisfaction": 5}
    assert stored["trigger"] == "phone_call"
    assert stored["event"] == "support_call_completed"


def test_the_member_defaults_to_the_webhook_creator(client, org, project, run_jobs):
    body = {k: v for k, v in SEED_ACTIVITY.items() if k != "memberEmail"}
    activity_id = post_activity(client, project["path"], body).get_json()["id"]
    run_jobs()
    assert get_activity(client, org, activity_id).get_json()["memberEmail"] == "owner@example.com"


def test_a_member_email_is_matched_whatever_its_case(client, org, project, run_jobs):
    activity_id = post_activity(
        client, project["path"], {**SEED_ACTIVITY, "memberEmail": "Agent@Example.COM"}
    ).get_json()["id"]
    run_jobs()
    assert get_activity(client, org, activity_id).get_json()["memberEmail"] == "agent@example.com"


MISSING = object()


@pytest.mark.parametrize(
    "change, field",
    [
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
    ],
)
def test_each_invalid_field_is_named_in_a_400(client, project, change, field):
    body = {key: value for key, value in {**SEED_ACTIVITY, **change}.items() if value is not MISSING}
    response = post_activity(client, project["path"], body)
    assert response.status_code == 400, response.data
    error = response.get_json()
    assert error["error"] == "validation_failed", error
    assert list(error["errors"]) == [field], error


def test_every_bad_field_is_named_at_once(client, project):
    response = post_activity(client, project["path"], {"startTime": "soon", "color": "red"})
    assert response.status_code == 400
    assert set(response.get_json()["errors"]) == {"title", "startTime", "color"}


@pytest.mark.parametrize(
    "body, content_type, code",
    [
        (b"{not json", "application/json", "invalid_json"),
        (b"[1, 2]", "application/json", "invalid_json"),
        (b'{"title": "\xff"}', "application/json", "invalid_json"),
        (b"title=x", "application/x-www-form-urlencoded", "unsupported_media_type"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(client, project, body, content_type, code):
    response = client.post(project["path"], data=body, content_type=content_type)
    assert response.status_code in (400, 415)
    assert response.get_json()["error"] == code


def test_a_body_over_the_limit_is_a_413(client, project, config):
    body = {**SEED_ACTIVITY, "description": "x" * (config.max_body_bytes + 1)}
    response = post_activity(client, project["path"], body)
    assert response.status_code == 413
    assert response.get_json()["error"] == "payload_too_large"


def test_an_unknown_token_is_a_404(client, project):
    response = post_activity(client, "/webhooks/ingress/hy_ingress_" + "A" * 32, SEED_ACTIVITY)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_the_same_external_id_updates_the_same_activity(client, org, project, run_jobs):
    first = post_activity(client, project["path"], SEED_ACTIVITY).get_json()["id"]
    run_jobs()
    second = post_activity(client, project["path"], {**SEED_ACTIVITY, "title": "Inquiry escalated"}).get_json()["id"]
    assert second == first
    run_jobs()
    activities = client.get("/v1/activities", headers=org["headers"]).get_json()["activities"]
    assert [a["id"] for a in activities] == [first]
    assert activities[0]["title"] == "Inquiry escalated"


def test_the_same_external_id_on_another_webhook_is_another_activity(client, org, project, run_jobs):
    other = client.post(
        f"/v1/projects/{project['id']}/webhooks",
        json={"name": "CRM", "created_by": "owner@example.com"},
        headers=org["headers"],
    ).get_json()
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


def test_activities_publish_created_then_updated_events(client, org, project, receiver, run_jobs, config):
    hook = client.post(
        "/v1/webhooks", json={"url": receiver.url(), "events": ["activity.*"]}, headers=org["headers"]
    ).get_json()
    post_activity(client, project["path"], SEED_ACTIVITY)
    run_jobs()
    post_activity(client, project["path"], {**SEED_ACTIVITY, "title": "Inquiry escalated"})
    run_jobs()
    received = [json.loads(r["body"]) for r in receiver.received()]
    assert [event["type"] for event in received] == ["activity.created", "activity.updated"]
    assert received[1]["data"]["title"] == "Inquiry escalated"
    assert received[1]["data"]["externalId"] == "call-log-9876"
    assert received[1]["data"]["webhookId"] == project["webhook"]["id"]
    request = receiver.received()[0]
    headers = {name.lower(): value for name, value in request["headers"].items()}
    Webhook(hook["secret"]).verify(request["body"], headers)  # raises if the signature is wrong


def test_a_rerun_of_the_store_job_changes_nothing_and_publishes_nothing(app, client, org, project, receiver, run_jobs):
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
    assert token not in redact(line)
    assert "hy_ingress_[redacted]" in redact(line)
