"""Settings → Retention through the test client, by role, and expired payloads on the signal and flow event pages."""

import datetime

from hookyard.core.clock import utcnow
from hookyard.ops.purge import purge
from models import FlowEvent, Signal
from tests.dashboard.conftest import post_form
from tests.helpers import CUSTOM_EVENT, api_get, post_to_flow, send_signal

PAGE = "/dashboard/settings/retention"
FORM = {
    "signal_payload_days_choice": "days",
    "signal_payload_days": "30",
    "flow_event_payload_days_choice": "default",
    "delivery_history_days_choice": "forever",
    "activity_days_choice": "days",
    "activity_days": "365",
}


def test_the_page_shows_the_defaults_until_the_organization_sets_its_own(admin):
    text = admin.get(PAGE).get_data(as_text=True)
    assert "<td>Signal payloads</td><td>90 days</td><td>90 days</td>" in text
    assert "<td>Activities</td><td>for ever</td><td>for ever</td>" in text
    assert "Save retention" in text


def test_the_form_saves_the_organizations_retention(admin, client, org):
    saved = post_form(admin, PAGE, FORM)
    assert saved.status_code == 200
    text = saved.get_data(as_text=True)
    assert "Retention saved" in text
    assert '<td>Signal payloads</td><td>30 days <span class="muted">(yours)</span></td>' in text
    shown = api_get(client, org, "/v1/retention")
    assert (shown["signal_payload_days"], shown["delivery_history_days"], shown["activity_days"]) == (30, None, 365)
    assert shown["sources"]["flow_event_payload_days"] == "default"
    assert '<option value="forever" selected>' in admin.get(PAGE).get_data(as_text=True)


def test_a_bad_number_of_days_is_named_and_the_form_keeps_what_was_typed(admin, client, org):
    answer = post_form(admin, PAGE, {**FORM, "signal_payload_days": "0", "activity_days_choice": "weekly"})
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert "Signal payloads: give a whole number of days from 1 to 36,500." in text
    assert "Activities: choose the default, a number of days, or for ever." in text
    assert (
        'name="signal_payload_days" inputmode="numeric" size="6" aria-label="Signal payloads: days" value="0"' in text
    )
    assert api_get(client, org, "/v1/retention")["sources"]["signal_payload_days"] == "default"


def test_a_viewer_sees_the_retention_but_cannot_change_it(viewer):
    page = viewer.get(PAGE)
    assert page.status_code == 200
    assert "Save retention" not in page.get_data(as_text=True)
    assert post_form(viewer, PAGE, FORM, page="/dashboard/").status_code == 403


def test_an_expired_signal_says_its_payload_was_removed(admin, client, signal_key, run_jobs, config):
    signal = send_signal(client, signal_key, {"email": "ann@example.com", "event": "Signed Up"})
    run_jobs()
    Signal.update(received_at=utcnow() - datetime.timedelta(days=91)).where(Signal.id == signal).execute()
    purge(config=config)
    text = admin.get(f"/dashboard/signals/{signal}").get_data(as_text=True)
    assert "The payload expired and was removed on" in text
    assert "A duplicate keeps no copy" not in text
    assert "Signed Up" in text  # the row stays


def test_an_expired_flow_event_says_its_data_was_removed(admin, client, make_flow, flow_key, run_jobs, config):
    flow = make_flow()
    assert post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key}).status_code == 200
    run_jobs()
    FlowEvent.update(received_at=utcnow() - datetime.timedelta(days=91)).execute()
    purge(config=config)
    event = FlowEvent.get()
    text = admin.get(f"/dashboard/flows/{flow['id']}/events/{event.id}").get_data(as_text=True)
    assert "The payload expired and was removed on" in text
    assert "ann@example.com" not in text
