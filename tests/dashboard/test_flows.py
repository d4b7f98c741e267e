"""Flows pages: create, the URL and setup steps, the live event log, an event's payload, playground, charts."""

import re

from models import Flow
from tests.dashboard.conftest import post_form
from tests.helpers import CUSTOM_EVENT, post_to_flow


def create(admin, **form):
    answer = post_form(admin, "/dashboard/flows", {"name": "Repo", "rate_limit_per_second": "50", **form})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer.get_data(as_text=True)


def test_a_flow_is_created_with_its_url_secret_once_and_setup_steps(admin, org):
    text = create(admin, secret="on", github_secret="It's a Secret to Everybody")
    flow = Flow.get(Flow.name == "Repo")
    assert f"/webhooks/{flow.webhook_id}" in text
    assert re.search(r'id="flow-secret-value" readonly value="whsec_[^"]+"', text)
    assert "Settings → Webhooks → Add webhook" in text
    again = admin.get(f"/dashboard/flows/{flow.id}").get_data(as_text=True)
    assert "flow-secret-value" not in again  # shown once
    assert flow.rate_limit_per_second == 50


def test_a_bad_flow_form_is_named(admin):
    answer = post_form(admin, "/dashboard/flows", {"name": "", "rate_limit_per_second": "0"})
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert "name:" in text
    assert "rate_limit_per_second:" in text


def test_the_event_log_fragment_shows_new_events_and_their_payload(admin, client, flow_key, run_jobs):
    create(admin)
    flow = Flow.get(Flow.name == "Repo")
    flow_dict = {"webhook_id": flow.webhook_id}
    empty = admin.get(f"/dashboard/flows/{flow.id}/events").get_data(as_text=True)
    assert "No event yet" in empty
    assert post_to_flow(client, flow_dict, CUSTOM_EVENT, **{"X-API-Key": flow_key}).status_code == 200
    run_jobs()
    log = admin.get(f"/dashboard/flows/{flow.id}/events").get_data(as_text=True)
    assert "user.signup" in log
    assert "<html" not in log  # a fragment, for the page's live refresh
    event_path = re.search(r'href="(/dashboard/flows/[^"]+/events/fev_[^"]+)"', log).group(1)
    event = admin.get(event_path).get_data(as_text=True)
    assert '<span class="key">email</span>: <span class="string">"ann@example.com"</span>' in event
    filtered = admin.get(f"/dashboard/flows/{flow.id}/events?source=github").get_data(as_text=True)
    assert "user.signup" not in filtered


def test_the_playground_shows_the_flows_answer(admin, run_jobs):
    create(admin)
    flow = Flow.get(Flow.name == "Repo")
    answer = post_form(
        admin, f"/dashboard/flows/{flow.id}/playground", {"payload": '{"event": "test.ping"}', "headers": "{}"},
        page=f"/dashboard/flows/{flow.id}",
    )  # fmt: skip
    text = answer.get_data(as_text=True)
    assert "Status <strong>200</strong>" in text
    assert "test.ping" in text
    bad = post_form(admin, f"/dashboard/flows/{flow.id}/playground", {"payload": "{nope"}, page="/dashboard/flows")
    assert bad.status_code == 400


def test_analytics_draw_charts_as_svg_for_each_window(admin):
    create(admin)
    flow = Flow.get(Flow.name == "Repo")
    for window in ("15m", "1h", "24h", "7d"):
        page = admin.get(f"/dashboard/flows/{flow.id}/analytics?window={window}").get_data(as_text=True)
        assert f"charts/volume.svg?window={window}" in page
        chart = admin.get(f"/dashboard/flows/{flow.id}/charts/volume.svg?window={window}")
        assert chart.mimetype == "image/svg+xml"
        assert b"<svg" in chart.data
        assert b"kozea.github.io" not in chart.data  # no script from a CDN
    latency = admin.get(f"/dashboard/flows/{flow.id}/charts/latency.svg")
    assert b"p95" in latency.data


def test_pausing_a_flow_makes_its_url_refuse_events(admin, client, flow_key):
    create(admin)
    flow = Flow.get(Flow.name == "Repo")
    post_form(admin, f"/dashboard/flows/{flow.id}/active", {"active": "false"}, page=f"/dashboard/flows/{flow.id}")
    refused = post_to_flow(client, {"webhook_id": flow.webhook_id}, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    assert refused.status_code != 200


def test_a_viewer_reads_flows_but_cannot_create_or_pause(admin, viewer):
    create(admin)
    flow = Flow.get(Flow.name == "Repo")
    assert viewer.get(f"/dashboard/flows/{flow.id}").status_code == 200
    assert post_form(viewer, "/dashboard/flows", {"name": "x"}).status_code == 403
    assert (
        post_form(viewer, f"/dashboard/flows/{flow.id}/active", {"active": "false"}, page="/dashboard/").status_code
        == 403
    )
    assert (
        post_form(viewer, f"/dashboard/flows/{flow.id}/playground", {"payload": "{}"}, page="/dashboard/").status_code
        == 403
    )


def test_another_organizations_flow_is_a_404(admin, client, other_org):
    theirs = client.post("/v1/flows", json={"name": "theirs"}, headers=other_org["headers"]).get_json()
    assert admin.get(f"/dashboard/flows/{theirs['id']}").status_code == 404
    assert admin.get(f"/dashboard/flows/{theirs['id']}/charts/volume.svg").status_code == 404


def test_the_event_log_filter_stays_on_the_flows_page_and_keeps_the_live_log_filtered(admin):
    create(admin)
    flow = Flow.get(Flow.name == "Repo")
    page = admin.get(f"/dashboard/flows/{flow.id}?source=github&event=").get_data(as_text=True)
    assert "<option selected>github</option>" in page
    assert f'data-live="/dashboard/flows/{flow.id}/events?source=github' in page


def test_unknown_query_arguments_on_a_flow_page_are_ignored(admin):
    create(admin)
    flow = Flow.get(Flow.name == "Repo")
    assert admin.get(f"/dashboard/flows/{flow.id}?flow_id=x&_external=1").status_code == 200


def test_the_event_log_pages_with_the_apis_cursor_and_only_the_first_page_is_live(admin, client, flow_key, run_jobs):
    create(admin, rate_limit_per_second="1000")
    flow = Flow.get(Flow.name == "Repo")
    for n in range(55):
        body = {"event": "tick", "data": {"n": n}, "id": f"tick-{n}"}
        assert post_to_flow(client, {"webhook_id": flow.webhook_id}, body, **{"X-API-Key": flow_key}).status_code == 200
    run_jobs()
    first = admin.get(f"/dashboard/flows/{flow.id}").get_data(as_text=True)
    assert first.count(">tick</a>") == 50
    assert "data-live=" in first
    older = re.search(r'<a href="([^"]+)" rel="next">Older events', first).group(1).replace("&amp;", "&")
    second = admin.get(older).get_data(as_text=True)
    assert second.count(">tick</a>") == 5
    assert "data-live=" not in second
