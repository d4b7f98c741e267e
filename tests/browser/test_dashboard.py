"""The dashboard in a real browser (Chromium): signing in, creating a key, sending a signal with it."""

import re

import requests
from playwright.sync_api import expect

from tests.dashboard.conftest import PASSWORD
from tests.helpers import segment_call


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/dashboard/login")
    page.shoot("login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/dashboard/")


def test_an_admin_signs_in_creates_a_key_sees_it_once_and_finds_the_signal_it_sent(
    page, live_server, make_user, run_jobs
):
    sign_in(page, live_server, make_user())
    page.shoot("overview-empty")
    menu = page.get_by_role("navigation", name="Main")
    menu.get_by_role("link", name="Settings").click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("Website")
    page.get_by_label("Endpoint type").select_option("signal_staging")
    page.get_by_role("button", name="Create API key").click()
    key = page.get_by_label("Key").input_value()
    assert re.fullmatch(r"hy_live_[\w-]+", key)
    assert key in page.get_by_label("Webhook URL").input_value()
    page.shoot("api-key-created")
    answer = requests.post(
        f"{live_server}/api/signal-staging/webhook/{key}", json={"email": "ann@example.com", "event": "Signed Up"}
    )
    assert answer.status_code == 202
    page.get_by_role("link", name="Back to API keys").click()
    assert key not in page.content()  # shown once: the list has its prefix only
    page.shoot("api-keys")
    menu.get_by_role("link", name="Overview").click()
    this_month = page.locator("section.tile", has_text="Signals this month")
    assert this_month.locator(".big").inner_text() == "1"
    page.shoot("overview")
    run_jobs()  # the worker stores it
    menu.get_by_role("link", name="Signals").click()
    page.get_by_label("Event").fill("Signed Up")
    page.get_by_role("button", name="Filter").click()
    page.shoot("signals")
    page.get_by_role("link", name=f"Signal {answer.json()['id']}").click()
    assert page.get_by_role("heading", name=f"Signal {answer.json()['id']}").is_visible()
    assert "ann@example.com" in page.locator(".json").inner_text()
    page.shoot("signal")
    page.get_by_role("link", name=re.compile(r"lead \d+")).click()
    assert page.get_by_role("heading", name="ann@example.com").is_visible()
    page.shoot("lead")


def test_a_viewer_sees_settings_without_credentials(page, live_server, make_user):
    sign_in(page, live_server, make_user("viewer@example.com", role="viewer"))
    page.goto(f"{live_server}/dashboard/settings/api-keys")
    assert page.get_by_role("button", name="Create API key").count() == 0
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Limits & usage").click()
    assert page.get_by_role("button", name="Save limits").count() == 0
    page.shoot("limits-viewer")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.shoot("limits-phone")


def test_a_flows_event_log_updates_live_and_its_chart_draws(page, live_server, make_user, flow_key, run_jobs):
    sign_in(page, live_server, make_user())
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Flows").click()
    page.shoot("flows-empty")
    page.get_by_label("Name").fill("Shop")
    page.get_by_role("button", name="Create flow").click()
    url = page.get_by_label("Flow URL").input_value()
    log = page.locator("#event-log")
    assert "No event yet" in log.inner_text()
    answer = requests.post(url, json={"event": "order.paid", "data": {"total": 12}}, headers={"X-API-Key": flow_key})
    assert answer.status_code == 200
    run_jobs()
    log.get_by_role("link", name="order.paid").wait_for(timeout=10_000)  # no reload: the log refreshes itself
    page.shoot("flow")
    page.get_by_role("link", name="Analytics").click()
    page.get_by_role("link", name="24h").click()
    chart = page.get_by_role("img", name="Events and errors over the last 24h")
    chart.wait_for()
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", chart.element_handle())
    page.shoot("flow-analytics")


def test_an_endpoint_is_created_and_a_delivery_followed_into_its_attempts(
    page, live_server, make_user, receiver, run_jobs
):
    sign_in(page, live_server, make_user())
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Outbound").click()
    page.get_by_label("URL").fill(receiver.url())
    page.get_by_label("webhook.test").check()
    page.get_by_role("button", name="Add webhook").click()
    assert page.get_by_label("Signing secret").input_value().startswith("whsec_")
    page.get_by_role("button", name="Send test event").click()
    run_jobs()
    log = page.locator("#delivery-log")
    log.get_by_role("cell", name="success").wait_for(timeout=10_000)  # the live log picks it up
    page.shoot("endpoint")
    log.get_by_role("link", name=re.compile(r"^del_")).click()
    attempts = page.get_by_role("table")
    assert attempts.get_by_role("cell", name="200", exact=True).is_visible()
    page.shoot("delivery")


def test_a_project_webhook_is_made_in_integrations_and_its_url_takes_an_activity(
    page, live_server, make_user, run_jobs
):
    sign_in(page, live_server, make_user())
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Integrations").click()
    page.get_by_label("Project name").fill("Support")
    page.get_by_role("button", name="Create project").click()
    page.get_by_label("Name").fill("Call center")
    page.get_by_role("button", name="Create webhook").click()
    url = page.get_by_label("Webhook URL of “Call center”").input_value()
    page.shoot("project")
    activity = {"title": "Customer Inquiry Handled", "startTime": "2024-01-15T10:30:00Z",
                "memberEmail": "admin@example.com"}  # fmt: skip
    assert requests.post(url, json=activity).status_code == 202
    run_jobs()
    page.get_by_role("link", name="Activities of this project").click()
    assert page.get_by_role("cell", name="Customer Inquiry Handled").is_visible()
    page.shoot("activities")
    page.get_by_role("link", name="← Integrations").click()
    page.shoot("integrations")


def test_a_rule_is_built_from_the_queue_with_a_live_preview_then_applied(
    page, live_server, make_user, client, signal_key, run_jobs
):
    for n, plan in enumerate(("pro", "pro", "free")):
        call = segment_call("segment_track.json", f"m-{n}", event="Demo Requested", properties={"plan": plan},
                            context={"traits": {"email": f"d{n}@x.io"}})  # fmt: skip
        assert client.post(f"/api/signal-staging/webhook/{signal_key}", json=call).status_code == 202
    run_jobs()
    sign_in(page, live_server, make_user())
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Mapping").click()
    page.shoot("signal-queue")
    page.get_by_role("link", name="Create rule from this group").click()
    preview = page.get_by_test_id("matched")
    assert preview.inner_text() == "3"
    page.get_by_label("Use properties.plan as").select_option("condition")
    page.get_by_role("button", name="Use properties.plan").click()
    page.get_by_label("Condition 1 path").wait_for()
    page.locator("#c1-op").select_option("in")
    assert page.locator("#c1-value").get_attribute("placeholder") == "a, b, c"  # the input fits the operator
    page.get_by_label(re.compile(r"^value")).first.fill("pro")
    expect(preview).to_have_text("2")  # live: the preview follows the draft without a submit
    assert "it is 'free'" in page.get_by_test_id("why").inner_text()
    page.get_by_label("Signal name").fill("Demo Requested")
    page.shoot("rule-builder")
    page.get_by_role("button", name="Save rule").click()
    page.get_by_role("button", name="Apply to queued signals").click()
    run_jobs()
    expect(page.get_by_test_id("mapped")).to_have_text("2", timeout=10_000)
    page.shoot("rule-applied")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Mapping").click()
    assert page.get_by_text("1 signals").is_visible()  # the queue shrank: only the free plan's is left
    menu = page.get_by_role("navigation", name="Main")
    menu.get_by_role("link", name="Leads").click()
    page.get_by_role("link", name="highest score first").click()
    page.get_by_role("link", name="d1@x.io").click()
    assert page.locator(".tile", has_text="Score").locator(".big").inner_text() == "10"
    assert page.get_by_role("cell", name="+10").is_visible()
    assert page.locator("ol.timeline").get_by_text("mapped to Demo Requested").is_visible()  # the timeline too
    page.shoot("lead-score")


def test_an_admin_retries_a_dead_letter_and_sets_retention(page, live_server, make_user, client, org, signal_key,
                                                          run_jobs, redis, job_context):  # fmt: skip
    import orjson

    from hookyard.ops.dead_letters import sweep_dead_letters
    from models import Signal

    sent = client.post(f"/api/signal-staging/webhook/{signal_key}", json={"email": "dl@x.io"}).get_json()
    (item,) = redis.lrange("hy:signals:buffer", 0, -1)  # set aside as the worker does with what it cannot store
    redis.rpush("hy:signals:dead-letter", orjson.dumps({"item": item.decode(), "error": "a bug since fixed"}))
    redis.delete("hy:signals:buffer", "hy:dead-letters:sweep-lock")
    sweep_dead_letters(job_context)
    sign_in(page, live_server, make_user())
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dead letters").click()
    expect(page.get_by_text("a bug since fixed")).to_be_visible()
    page.shoot("dead-letters")
    page.get_by_role("button", name=f"Retry {sent['id']}").click()
    expect(page.get_by_role("status")).to_contain_text("Sent back to be stored again")
    run_jobs()
    assert Signal.get_by_id(sent["id"]).email == "dl@x.io"
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Retention").click()
    page.get_by_label("Signal payloads", exact=True).select_option("days")
    page.get_by_label("Signal payloads: days").fill("30")
    page.get_by_role("button", name="Save retention").click()
    expect(page.get_by_text("30 days (yours)")).to_be_visible()
    page.shoot("retention")
    policy = client.get("/v1/retention", headers=org["headers"]).get_json()
    assert policy["signal_payload_days"] == 30
