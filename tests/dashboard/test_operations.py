"""Dead letters and operational events in the dashboard: listed, retried and deleted by an admin; shown on the
overview; a viewer sees them but cannot act."""

import orjson

from hookyard.ops.dead_letters import sweep_dead_letters
from models import DeadLetter
from tests.dashboard.conftest import post_form
from tests.helpers import create_webhook, post_signal, publish_event


def set_aside_waiting_signals(redis, job_context):
    """Move the signals waiting in the buffer to the dead letters, as the worker does with what it cannot store."""
    for item in redis.lrange("hy:signals:buffer", 0, -1):
        redis.rpush("hy:signals:dead-letter", orjson.dumps({"item": item.decode(), "error": "boom: a bug", "at": 1.0}))
    redis.delete("hy:signals:buffer", "hy:dead-letters:sweep-lock")
    sweep_dead_letters(job_context)


def test_an_admin_retries_and_deletes_dead_letters_the_overview_points_to(
    admin, client, org, signal_key, run_jobs, redis, job_context
):
    first = post_signal(client, signal_key, {"email": "ann@x.io"}).get_json()
    second = post_signal(client, signal_key, {"email": "bob@x.io"}).get_json()
    set_aside_waiting_signals(redis, job_context)
    overview = admin.get("/dashboard/").get_data(as_text=True)
    assert "2 signals could not be stored" in overview
    assert 'href="/dashboard/dead-letters"' in overview
    listing = admin.get("/dashboard/dead-letters").get_data(as_text=True)
    assert str(first["id"]) in listing and str(second["id"]) in listing
    assert "boom: a bug" in listing
    by_item = {row.item_id: row.id for row in DeadLetter.select()}
    retried = post_form(
        admin, f"/dashboard/dead-letters/{by_item[str(first['id'])]}/retry", page="/dashboard/dead-letters"
    )
    assert "Sent back to be stored again" in retried.get_data(as_text=True)
    run_jobs()
    assert client.get(f"/v1/signals/{first['id']}", headers=org["headers"]).status_code == 200
    deleted = post_form(
        admin, f"/dashboard/dead-letters/{by_item[str(second['id'])]}/delete", page="/dashboard/dead-letters"
    )
    assert "Deleted" in deleted.get_data(as_text=True)
    assert DeadLetter.select().count() == 0
    assert "Nothing waits here" in admin.get("/dashboard/dead-letters").get_data(as_text=True)
    assert "signals could not be stored" not in admin.get("/dashboard/").get_data(as_text=True)


def test_a_viewer_sees_dead_letters_but_cannot_act(viewer, client, signal_key, redis, job_context):
    post_signal(client, signal_key, {"email": "cy@x.io"})
    set_aside_waiting_signals(redis, job_context)
    listing = viewer.get("/dashboard/dead-letters").get_data(as_text=True)
    assert "boom: a bug" in listing
    assert "Retry" not in listing
    (row,) = DeadLetter.select()
    answer = post_form(viewer, f"/dashboard/dead-letters/{row.id}/retry", page="/dashboard/account", follow=False)
    assert answer.status_code == 403
    assert DeadLetter.select().count() == 1


def test_the_overview_lists_operational_events(admin, client, org, receiver, run_jobs):
    receiver.answer = lambda request: (410, b"gone", 0, {})
    hook = create_webhook(client, org, receiver, events=["user.created"])
    publish_event(client, org)
    run_jobs()
    overview = admin.get("/dashboard/").get_data(as_text=True)
    assert "webhook.disabled" in overview
    assert f"Webhook {hook['url']} was disabled: answered 410 Gone" in overview
    assert "delivery.exhausted" in overview
