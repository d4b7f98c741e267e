"""Overview and Settings (API keys, management keys, limits & usage) through the test client, by role."""

import re

import orjson
import pytest

from hookyard.signals.keys import SignalKeys
from models import ApiKey, Endpoint
from tests.dashboard.conftest import post_form, sign_in
from tests.helpers import SIGNAL_WEBHOOK, send_signal


def test_the_overview_counts_signals_against_the_plan(admin, client, org, signal_key):
    client.put(
        "/v1/rate-limits",
        json={"raw_signals_per_month": 1000, "signals_per_second": None, "overages_enabled": False},
        headers=org["headers"],
    )
    for n in range(3):
        send_signal(client, signal_key, {"email": f"a{n}@x.io", "event": "Signed Up"})
    page = admin.get("/dashboard/").get_data(as_text=True)
    assert re.search(r"Signals this month</h2>\s*<p class=\"big\">3</p>", page)
    assert "of 1,000 in the plan" in page
    assert "Nothing is failing." in page


def test_an_api_key_is_created_shown_once_and_works(admin, client):
    created = post_form(
        admin, "/dashboard/settings/api-keys", {"name": "Website", "endpoint_type": "signal_staging", "secret": "on"}
    )
    assert created.status_code == 200
    text = created.get_data(as_text=True)
    key = re.search(r'id="new-key" readonly value="(hy_live_[^"]+)"', text).group(1)
    secret = re.search(r'id="new-secret" readonly value="(hy_secret_[^"]+)"', text).group(1)
    assert f"/api/signal-staging/webhook/{key}" in text  # the ready-to-paste URL and curl example
    assert "curl -X POST" in text
    answer = client.post(f"{SIGNAL_WEBHOOK}/{key}", json={"email": "a@x.io"}, headers={"X-Api-Secret": secret})
    assert answer.status_code == 202
    listing = admin.get("/dashboard/settings/api-keys").get_data(as_text=True)
    assert key not in listing  # never again: only the prefix
    assert key[:12] in listing


def test_an_api_key_is_deactivated_and_deleted_from_the_list(admin, client, org, make_api_key):
    created = make_api_key(name="Forms")
    path = f"/dashboard/settings/api-keys/{created['id']}"
    post_form(admin, f"{path}/active", {"active": "false"}, page="/dashboard/settings/api-keys")
    assert client.post(f"{SIGNAL_WEBHOOK}/{created['key']}", json={"email": "a@x.io"}).status_code == 401
    post_form(admin, f"{path}/delete", page="/dashboard/settings/api-keys")
    assert ApiKey.get_or_none(ApiKey.id == created["id"]) is None


def test_a_bad_api_key_form_names_each_problem(admin):
    answer = post_form(
        admin, "/dashboard/settings/api-keys", {"name": "", "endpoint_type": "x", "expires_at": "2001-01-01T00:00"}
    )
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert "Give the key a name" in text
    assert "Choose what the key is for" in text
    assert "must be in the future" in text


def test_a_management_key_is_created_rotated_and_revoked(admin, client, org):
    created = post_form(admin, "/dashboard/settings/management-keys", {"name": "CI"})
    key = re.search(r'id="new-key" readonly value="(hy_mgmt_[^"]+)"', created.get_data(as_text=True)).group(1)
    assert client.get("/v1/api-keys", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    page = admin.get("/dashboard/settings/management-keys").get_data(as_text=True)
    key_id = re.search(r'/management-keys/(\d+)/rotate"[^>]*>\s*<input[^>]*>\s*<button[^>]*>Rotate CI', page).group(1)
    rotated = post_form(
        admin, f"/dashboard/settings/management-keys/{key_id}/rotate", page="/dashboard/settings/management-keys"
    )
    new_key = re.search(r'id="new-key" readonly value="(hy_mgmt_[^"]+)"', rotated.get_data(as_text=True)).group(1)
    assert client.get("/v1/api-keys", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert client.get("/v1/api-keys", headers={"Authorization": f"Bearer {new_key}"}).status_code == 200
    page = admin.get("/dashboard/settings/management-keys").get_data(as_text=True)
    new_id = re.search(r'/management-keys/(\d+)/revoke"[^>]*>\s*<input[^>]*>\s*<button[^>]*>Revoke CI', page).group(1)
    post_form(admin, f"/dashboard/settings/management-keys/{new_id}/revoke", page="/dashboard/settings/management-keys")
    assert client.get("/v1/api-keys", headers={"Authorization": f"Bearer {new_key}"}).status_code == 401
    assert client.get("/v1/api-keys", headers=org["headers"]).status_code == 200  # the first key still works


def test_limits_are_saved_from_the_form_and_held_to(admin, client, org, signal_key):
    saved = post_form(
        admin,
        "/dashboard/settings/limits",
        {"raw_signals_per_month": "1", "signals_per_second": "", "overages_enabled": ""},
    )
    assert saved.status_code == 200
    assert "Limits saved" in saved.get_data(as_text=True)
    assert client.get("/v1/rate-limits", headers=org["headers"]).get_json()["raw_signals_per_month"] == 1
    send_signal(client, signal_key, {"email": "a@x.io"})
    assert client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"email": "b@x.io"}).status_code == 429
    bad = post_form(admin, "/dashboard/settings/limits", {"raw_signals_per_month": "-5"})
    assert bad.status_code == 400
    assert "whole number" in bad.get_data(as_text=True)


VIEWER_READS = ["/dashboard/", "/dashboard/settings/api-keys", "/dashboard/settings/limits", "/dashboard/account"]
ADMIN_WRITES = [
    ("/dashboard/settings/api-keys", {"name": "x", "endpoint_type": "flow"}),
    ("/dashboard/settings/api-keys/1/active", {"active": "false"}),
    ("/dashboard/settings/api-keys/1/delete", {}),
    ("/dashboard/settings/management-keys", {"name": "x"}),
    ("/dashboard/settings/management-keys/1/rotate", {}),
    ("/dashboard/settings/management-keys/1/revoke", {}),
    ("/dashboard/settings/limits", {"raw_signals_per_month": "5"}),
]


@pytest.mark.parametrize("path", VIEWER_READS)
def test_a_viewer_sees_the_pages(viewer, path):
    assert viewer.get(path).status_code == 200


def test_a_viewer_does_not_see_credentials(viewer):
    assert viewer.get("/dashboard/settings/management-keys").status_code == 403
    assert "Create an API key" not in viewer.get("/dashboard/settings/api-keys").get_data(as_text=True)


@pytest.mark.parametrize(("path", "data"), ADMIN_WRITES)
def test_every_write_is_a_403_for_a_viewer(viewer, path, data):
    answer = post_form(viewer, path, data, page="/dashboard/")
    assert answer.status_code == 403


def test_another_organizations_key_is_a_404(admin, client, other_org):
    theirs = client.post("/v1/api-keys", json={"name": "t", "endpoint_type": "flow"}, headers=other_org["headers"])
    path = f"/dashboard/settings/api-keys/{theirs.get_json()['id']}/delete"
    assert post_form(admin, path, page="/dashboard/").status_code == 404
    assert ApiKey.get_or_none(ApiKey.id == theirs.get_json()["id"]) is not None


def test_an_expiry_that_leaves_the_calendar_in_utc_is_named_not_a_500(admin):
    form = {"name": "k", "endpoint_type": "flow", "expires_at": "0001-01-01T00:00+01:00"}
    answer = post_form(admin, "/dashboard/settings/api-keys", form)
    assert answer.status_code == 400
    assert "outside the years" in answer.get_data(as_text=True)


def test_reloading_the_page_that_showed_a_key_shows_it_no_more_and_makes_no_second_key(app, admin, make_user):
    form = {"name": "Once", "endpoint_type": "flow"}
    answer = post_form(admin, "/dashboard/settings/api-keys", form, follow=False)
    assert answer.status_code == 302  # post, redirect, get: a reload repeats nothing
    shown_at = answer.headers["Location"]
    other = app.test_client()
    sign_in(other, make_user("colleague@example.com"))
    assert other.get(shown_at).status_code == 302  # another session cannot take it
    assert "hy_live_" in admin.get(shown_at).get_data(as_text=True)
    assert admin.get(shown_at).status_code == 302  # shown once
    assert ApiKey.select().where(ApiKey.name == "Once").count() == 1


def test_the_overview_lists_what_is_failing_with_links(admin, client, org, redis, config, receiver, job_context):
    from hookyard.ops.dead_letters import sweep_dead_letters

    hook = client.post("/v1/webhooks", json={"url": receiver.url(), "events": ["*"]}, headers=org["headers"])
    Endpoint.update(active=False, disabled_reason="410 Gone from the receiver").execute()
    ours = orjson.dumps({"id": 1, "org": org["id"], "src": "generic", "at": 0}).decode()
    theirs = orjson.dumps({"id": 2, "org": org["id"] + 1000, "src": "generic", "at": 0}).decode()
    for item in (ours, theirs):
        redis.rpush(SignalKeys(config.redis_prefix).dead_letter, orjson.dumps({"item": item, "error": "boom"}))
    sweep_dead_letters(job_context)  # into the dead-letter table, per organization
    page = admin.get("/dashboard/").get_data(as_text=True)
    assert "Nothing is failing" not in page
    assert f"/dashboard/outbound/{hook.get_json()['id']}" in page
    assert "410 Gone from the receiver" in page
    assert "1 signals could not be stored" in page


def test_every_dashboard_write_is_a_403_for_a_viewer_route_by_route(app, viewer):
    from hookyard.dashboard.blueprint import PUBLIC_ENDPOINTS, SELF_SERVICE

    writes = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("dashboard.")
        and "POST" in rule.methods
        and rule.endpoint not in PUBLIC_ENDPOINTS + SELF_SERVICE
    ]
    assert len(writes) >= 20
    for rule in writes:
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(rf"<(?:\w+:)?{name}>", "1", path)
        answer = post_form(viewer, path, {"name": "x"}, page="/dashboard/", follow=False)
        assert answer.status_code == 403, (rule.rule, answer.status_code)
