"""Signals, imports and leads pages: filters, a signal's payload tree, live import progress, a lead's timeline."""

import pytest

from tests.helpers import SIGNAL_BULK, segment_call, send_signal


@pytest.fixture
def stored(client, signal_key, run_jobs):
    """Two signals of a lead (one mapped by nothing), one cold page view, all stored by the worker."""
    first = send_signal(client, signal_key, {"email": "ann@x.io", "event": "Signed Up", "properties": {"plan": "pro"}})
    second = send_signal(client, signal_key, {"email": "ann@x.io", "event": "Trial Started"})
    cold = send_signal(client, signal_key, segment_call("segment_page.json", "m-1", userId=None, anonymousId="v-1"))
    run_jobs()
    return {"first": first, "second": second, "cold": cold}


def test_the_signal_list_shows_every_signal_newest_first(admin, stored):
    text = admin.get("/dashboard/signals").get_data(as_text=True)
    positions = [text.index(f'aria-label="Signal {stored[name]}"') for name in ("cold", "second", "first")]
    assert positions == sorted(positions)
    assert "Trial Started" in text


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("event=Signed+Up", "first", "second"),
        ("cold_storage=true", "cold", "first"),
        ("email=ANN@x.io", "second", "cold"),
        ("source=segment", "cold", "first"),
    ],
)
def test_the_signal_list_takes_the_apis_filters(admin, stored, query, shown, hidden):
    text = admin.get(f"/dashboard/signals?{query}&status=").get_data(as_text=True)
    assert f'aria-label="Signal {stored[shown]}"' in text
    assert f'aria-label="Signal {stored[hidden]}"' not in text


def test_a_bad_filter_is_named_on_the_page(admin, stored):
    answer = admin.get("/dashboard/signals?status=lost&lead_id=abc")
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert "status:" in text
    assert "lead_id:" in text


def test_a_signal_shows_its_payload_as_a_tree_and_its_lead(admin, stored):
    text = admin.get(f"/dashboard/signals/{stored['first']}").get_data(as_text=True)
    assert '<span class="key">plan</span>: <span class="string">"pro"</span>' in text
    assert "/dashboard/leads/" in text
    cold = admin.get(f"/dashboard/signals/{stored['cold']}").get_data(as_text=True)
    assert "in cold storage until an identify names v-1" in cold


def test_another_organizations_signal_and_lead_are_404s(app, stored, other_org, make_user):
    from tests.dashboard.conftest import sign_in

    email = make_user("them@example.com", organization_id=other_org["id"])
    theirs = app.test_client()
    sign_in(theirs, email)
    assert theirs.get(f"/dashboard/signals/{stored['first']}").status_code == 404
    assert "No signal" in theirs.get(f"/dashboard/signals/{stored['first']}").get_data(as_text=True)
    assert f'aria-label="Signal {stored["first"]}"' not in theirs.get("/dashboard/signals").get_data(as_text=True)


def test_leads_are_searched_by_email_and_show_a_timeline(admin, stored):
    found = admin.get("/dashboard/leads?email=Ann@X.io").get_data(as_text=True)
    assert "ann@x.io" in found
    lead_path = found.split('href="/dashboard/leads/')[1].split('"')[0]
    lead = admin.get(f"/dashboard/leads/{lead_path}").get_data(as_text=True)
    assert lead.index("Trial Started") < lead.index("Signed Up")  # newest first
    assert "No lead with the email nobody@x.io" in admin.get("/dashboard/leads?email=nobody@x.io").get_data(
        as_text=True
    )
    searched = admin.get("/dashboard/leads?email=<b>x</b>@x.io").get_data(as_text=True)
    assert "No lead with the email &lt;b&gt;x&lt;/b&gt;@x.io" in searched  # what was typed stays text


def test_imports_show_their_progress_and_refresh_live(admin, client, signal_key, run_jobs):
    body = {"signals": [{"email": f"b{n}@x.io", "event": "Imported"} for n in range(5)]}
    import_id = client.post(f"{SIGNAL_BULK}/{signal_key}", json=body).get_json()["import_id"]
    run_jobs()
    page = admin.get("/dashboard/imports").get_data(as_text=True)
    assert 'data-live="/dashboard/imports/live"' in page
    fragment = admin.get("/dashboard/imports/live").get_data(as_text=True)
    assert import_id in fragment
    assert 'value="5"' in fragment
    assert "<html" not in fragment


def test_empty_lists_say_what_to_do_next(admin):
    assert "send one with the curl example" in admin.get("/dashboard/signals").get_data(as_text=True)
    assert "No lead yet" in admin.get("/dashboard/leads").get_data(as_text=True)


def test_lists_page_with_the_apis_cursor(admin, client, signal_key, run_jobs):
    for n in range(55):
        send_signal(client, signal_key, {"email": f"p{n}@x.io"})
    run_jobs()
    first = admin.get("/dashboard/signals").get_data(as_text=True)
    assert first.count('href="/dashboard/signals/') == 50
    next_url = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = admin.get(next_url).get_data(as_text=True)
    assert second.count('href="/dashboard/signals/') == 5


def test_what_senders_wrote_is_shown_as_text_never_as_markup(admin, client, signal_key, run_jobs):
    hostile = "<script>alert(1)</script>"
    signal_id = send_signal(client, signal_key, {"email": "x@x.io", "event": hostile, "properties": {hostile: hostile}})
    run_jobs()
    for path in ("/dashboard/signals", f"/dashboard/signals/{signal_id}"):
        text = admin.get(path).get_data(as_text=True)
        assert hostile not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_a_payload_nested_deeper_than_the_tree_shows_the_rest_as_text(admin, client, signal_key, run_jobs):
    nested = {"leaf": "bottom"}
    for _ in range(60):
        nested = {"a": nested}
    signal_id = send_signal(client, signal_key, {"email": "deep@x.io", "properties": nested})
    run_jobs()
    page = admin.get(f"/dashboard/signals/{signal_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert text.count("<details") <= 25  # a tree 20 levels deep, then text
    assert '<code class="excerpt">{"a": {' in text
    assert "bottom" in text


def test_leads_sort_by_most_recent_activity(admin, client, signal_key, run_jobs):
    for email in ("old@x.io", "new@x.io"):
        send_signal(client, signal_key, {"email": email, "event": "Seen"})
        run_jobs()
    send_signal(client, signal_key, {"email": "old@x.io", "event": "Back again"})  # old is the latest now
    run_jobs()
    newest = admin.get("/dashboard/leads").get_data(as_text=True)
    assert newest.index(">new@x.io<") < newest.index(">old@x.io<")  # by creation
    active = admin.get("/dashboard/leads?sort=last_seen").get_data(as_text=True)
    assert active.index(">old@x.io<") < active.index(">new@x.io<")  # by last activity
