"""Outbound pages: create with the event picker, the live delivery log, attempts, retry, rotate, test, replay."""

import datetime
import re

from models import Delivery, Endpoint
from tests.dashboard.conftest import post_form
from tests.helpers import publish_event


def create(admin, receiver, events=("user.created",), patterns=""):
    form = {"url": receiver.url(), "description": "CRM", "events": list(events), "patterns": patterns}
    answer = post_form(admin, "/dashboard/outbound", form)
    return answer, Endpoint.get_or_none(Endpoint.url == receiver.url())


def test_the_event_picker_offers_the_catalogue_and_a_webhook_is_created_with_its_secret_once(admin, receiver):
    picker = admin.get("/dashboard/outbound").get_data(as_text=True)
    assert 'value="user.created"' in picker
    assert 'value="webhook.test"' in picker
    answer, endpoint = create(admin, receiver, patterns="flow.*")
    assert answer.status_code == 200
    assert endpoint.events == ["user.created", "flow.*"]
    assert re.search(r'id="signing-secret" readonly value="whsec_', answer.get_data(as_text=True))
    assert "signing-secret" not in admin.get(f"/dashboard/outbound/{endpoint.id}").get_data(as_text=True)


def test_a_bad_webhook_form_names_each_problem(admin):
    form = {"url": "ftp://x", "patterns": "no.such.type"}
    answer = post_form(admin, "/dashboard/outbound", form)
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert "url:" in text
    assert "Unknown or archived event type &#39;no.such.type&#39;" in text


def test_a_test_event_is_followed_into_its_attempts_and_retried(admin, receiver, run_jobs):
    _, endpoint = create(admin, receiver, events=("webhook.test",))
    page = f"/dashboard/outbound/{endpoint.id}"
    queued = post_form(admin, f"{page}/test", page=page)
    assert "Test event queued" in queued.get_data(as_text=True)
    run_jobs()
    log = admin.get(f"{page}/deliveries").get_data(as_text=True)
    delivery_id = re.search(r'href="/dashboard/deliveries/(del_\w+)"', log).group(1)
    assert "success" in log
    detail = admin.get(f"/dashboard/deliveries/{delivery_id}").get_data(as_text=True)
    assert "<td>200</td>" in detail
    assert "{&#34;ok&#34;: true}" in detail  # the receiver's answer, as text
    post_form(admin, f"/dashboard/deliveries/{delivery_id}/retry", page=f"/dashboard/deliveries/{delivery_id}")
    run_jobs()
    assert Delivery.get_by_id(delivery_id).attempts == 2
    assert len(receiver.received()) == 2


def test_the_delivery_log_filters_by_status(admin, client, org, receiver, run_jobs):
    _, endpoint = create(admin, receiver)
    receiver.answer = lambda request: (500, b"down", 0, {})
    publish_event(client, org)
    run_jobs()
    page = f"/dashboard/outbound/{endpoint.id}"
    assert "del_" in admin.get(f"{page}?status=retrying").get_data(as_text=True)
    assert "No delivery yet" in admin.get(f"{page}/deliveries?status=success").get_data(as_text=True)


def test_rotating_shows_the_new_secret_and_the_overlap(admin, receiver):
    _, endpoint = create(admin, receiver)
    page = f"/dashboard/outbound/{endpoint.id}"
    text = post_form(admin, f"{page}/rotate", page=page).get_data(as_text=True)
    assert re.search(r'id="signing-secret" readonly value="whsec_', text)
    assert "The previous secret keeps signing too until" in text


def test_replay_queues_the_window_and_pause_stops_the_webhook(admin, client, org, receiver, run_jobs):
    _, endpoint = create(admin, receiver)
    receiver.answer = lambda request: (500, b"down", 0, {})
    publish_event(client, org)
    run_jobs()
    page = f"/dashboard/outbound/{endpoint.id}"
    since = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    replayed = post_form(admin, f"{page}/replay", {"replay_status": "retrying", "since": since}, page=page)
    assert "1 retrying deliveries queued again" in replayed.get_data(as_text=True)
    bad = post_form(admin, f"{page}/replay", {"replay_status": "failed", "since": "soon"}, page=page)
    assert bad.status_code == 400
    post_form(admin, f"{page}/active", {"active": "false"}, page=page)
    assert Endpoint.get_by_id(endpoint.id).active is False


def test_a_viewer_reads_the_log_but_writes_nothing(admin, viewer, receiver):
    _, endpoint = create(admin, receiver)
    page = f"/dashboard/outbound/{endpoint.id}"
    assert viewer.get(page).status_code == 200
    for action in ("test", "rotate", "active", "replay", "edit"):
        assert post_form(viewer, f"{page}/{action}", page="/dashboard/").status_code == 403
    assert post_form(viewer, "/dashboard/outbound", {"url": receiver.url()}, page="/dashboard/").status_code == 403


def test_another_organizations_webhook_and_delivery_are_404s(admin, client, other_org, receiver):
    theirs = client.post("/v1/webhooks", json={"url": receiver.url(), "events": ["*"]}, headers=other_org["headers"])
    hook_id = theirs.get_json()["id"]
    assert admin.get(f"/dashboard/outbound/{hook_id}").status_code == 404
    assert post_form(admin, f"/dashboard/outbound/{hook_id}/test", page="/dashboard/").status_code == 404
