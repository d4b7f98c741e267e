"""Retention through the management API, and the purge that applies it, on real rows made through the real paths.

Rows are made old by moving their timestamps back in the database after the worker stored them.
"""

import datetime
import json
import os
import sqlite3
import time

import peewee
import pytest

from app import create_app
from hookyard.core.clock import utcnow
from hookyard.core.config import Config
from hookyard.ops import purge as purging
from hookyard.ops import space
from hookyard.ops.purge import purge, purge_expired, sweep_retention
from hookyard.ops.space import bound_write_ahead_log, release_free_space
from models import Activity, Delivery, DeliveryAttempt, Event, FlowEvent, RetentionPolicy, Signal
from tests.helpers import (
    CUSTOM_EVENT,
    SEED_ACTIVITY,
    api_get,
    create_webhook,
    flow_events,
    post_activity,
    post_to_flow,
    publish_event,
    scrape,
    send_signal,
    value,
)

DEFAULTS = {
    "signal_payload_days": 90,
    "flow_event_payload_days": 90,
    "delivery_history_days": 90,
    "activity_days": None,
}


def on_sqlite(app) -> bool:
    return isinstance(app.database, peewee.SqliteDatabase)


def backdate(model, ids, days: float, column: str = "received_at") -> None:
    """Move rows' time `days` into the past, as if they had been stored then."""
    moment = utcnow() - datetime.timedelta(days=days)
    model.update({getattr(model, column): moment}).where(model.id.in_(list(ids))).execute()


def put_retention(client, org, body):
    return client.put("/v1/retention", json=body, headers=org["headers"])


# --- the API -----------------------------------------------------------------------------------------


def test_retention_answers_the_environment_defaults_until_the_organization_sets_its_own(client, org):
    assert api_get(client, org, "/v1/retention") == {
        **DEFAULTS,
        "defaults": DEFAULTS,
        "sources": dict.fromkeys(DEFAULTS, "default"),
        "updated_at": None,
    }


def test_a_put_sets_the_fields_given_and_leaves_the_others_to_the_default(client, org):
    answer = put_retention(client, org, {"signal_payload_days": 30, "activity_days": 365})
    assert answer.status_code == 200, answer.data
    shown = answer.get_json()
    assert (shown["signal_payload_days"], shown["flow_event_payload_days"], shown["activity_days"]) == (30, 90, 365)
    assert shown["sources"] == {
        "signal_payload_days": "organization",
        "flow_event_payload_days": "default",
        "delivery_history_days": "default",
        "activity_days": "organization",
    }
    assert shown["defaults"] == DEFAULTS
    assert shown["updated_at"].endswith("Z")
    assert api_get(client, org, "/v1/retention") == shown


def test_a_put_replaces_the_whole_policy_and_null_keeps_for_ever(client, org):
    put_retention(client, org, {"signal_payload_days": 30})
    shown = put_retention(client, org, {"delivery_history_days": None}).get_json()
    assert shown["signal_payload_days"] == 90  # left out: back to the default
    assert shown["delivery_history_days"] is None
    assert shown["sources"]["delivery_history_days"] == "organization"
    assert shown["sources"]["signal_payload_days"] == "default"
    assert put_retention(client, org, {}).get_json()["sources"] == dict.fromkeys(DEFAULTS, "default")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"signal_payload_days": 0}, "signal_payload_days"),
        ({"flow_event_payload_days": 36501}, "flow_event_payload_days"),
        ({"delivery_history_days": "30"}, "delivery_history_days"),
        ({"activity_days": 1.5}, "activity_days"),
        ({"activity_days": True}, "activity_days"),
        ({"signal_payload_days": -1}, "signal_payload_days"),
        ({"payload_days": 30}, "payload_days"),
    ],
)
def test_a_bad_value_is_a_400_naming_the_field(client, org, body, field):
    answer = put_retention(client, org, body)
    assert answer.status_code == 400
    assert field in answer.get_json()["errors"]
    assert api_get(client, org, "/v1/retention")["sources"] == dict.fromkeys(DEFAULTS, "default")


def test_a_body_that_is_not_an_object_is_refused(client, org):
    assert put_retention(client, org, [1]).status_code == 400


def test_another_organization_keeps_its_own_retention(client, org, other_org):
    put_retention(client, org, {"signal_payload_days": 7})
    assert api_get(client, other_org, "/v1/retention")["signal_payload_days"] == 90


def test_retention_needs_the_management_key(client):
    assert client.get("/v1/retention").status_code == 401
    assert client.put("/v1/retention", json={}).status_code == 401


def test_the_defaults_come_from_the_configuration(config, redis, org):
    changed = {"retention_signal_payload_days": None, "retention_activity_days": 30}
    client = create_app(Config(**{**config.__dict__, **changed})).test_client()
    shown = api_get(client, org, "/v1/retention")
    assert (shown["signal_payload_days"], shown["activity_days"]) == (None, 30)
    assert shown["defaults"]["activity_days"] == 30
    assert shown["sources"] == dict.fromkeys(DEFAULTS, "default")


# --- the purge ---------------------------------------------------------------------------------------

MAPPED = {
    "name": "Demo form",
    "event": "Demo Requested",
    "conditions": [],
    "field_map": {"company": "traits.company"},
    "signal_name": "Demo Requested",
    "score": 10,
}


def test_a_signal_past_its_retention_loses_its_payload_and_says_so(client, org, signal_key, run_jobs, config):
    assert client.post("/v1/mapping-rules", json=MAPPED, headers=org["headers"]).status_code == 201
    body = {"email": "ann@example.com", "event": "Demo Requested", "traits": {"company": "Initech"}}
    old = send_signal(client, signal_key, body)
    new = send_signal(client, signal_key, {**body, "messageId": "m-2", "properties": {"page": 2}})
    run_jobs()
    before = api_get(client, org, f"/v1/signals/{old}")
    backdate(Signal, [old], days=91)
    assert purge(config=config)["signal_payload"] == 1
    expired = api_get(client, org, f"/v1/signals/{old}")
    assert (expired["payload"], expired["payload_expired"]) == (None, True)
    for kept in ("lead_id", "email", "event", "status", "mapped_signal", "source"):
        assert expired[kept] == before[kept], kept
    assert expired["mapped_signal"] == "Demo Requested"
    fresh = api_get(client, org, f"/v1/signals/{new}")
    assert fresh["payload"]["properties"] == {"page": 2}
    assert fresh["payload_expired"] is False
    listed = {signal["id"]: signal for signal in api_get(client, org, "/v1/signals")["signals"]}
    assert listed[old]["payload_expired"] is True
    lead = api_get(client, org, f"/v1/leads/{before['lead_id']}")
    assert (lead["signal_count"], lead["score"], lead["company"]) == (2, 20, "Initech")


def test_a_duplicate_is_not_called_expired(client, org, signal_key, run_jobs, config):
    first = send_signal(client, signal_key, {"email": "ann@example.com", "messageId": "same"})
    copy = send_signal(client, signal_key, {"email": "ann@example.com", "messageId": "same"})
    run_jobs()
    backdate(Signal, [first, copy], days=91)
    assert purge(config=config)["signal_payload"] == 1
    assert api_get(client, org, f"/v1/signals/{copy}") == {"id": copy, "status": "duplicate", "duplicate_of": first}
    assert Signal.get_by_id(copy).payload_expired is False


def test_payloads_kept_for_ever_are_kept(client, org, signal_key, run_jobs, config):
    put_retention(client, org, {"signal_payload_days": None})
    signal = send_signal(client, signal_key, {"email": "ann@example.com"})
    run_jobs()
    backdate(Signal, [signal], days=3650)
    assert purge(config=config)["signal_payload"] == 0
    assert api_get(client, org, f"/v1/signals/{signal}")["payload"] == {"email": "ann@example.com"}


def test_one_organizations_shorter_retention_leaves_the_others_data_alone(
    client, org, other_org, make_api_key, run_jobs, config
):
    put_retention(client, org, {"signal_payload_days": 10})
    ours = send_signal(client, make_api_key()["key"], {"email": "ann@example.com"})
    theirs = send_signal(client, make_api_key(headers=other_org["headers"])["key"], {"email": "bo@example.com"})
    run_jobs()
    backdate(Signal, [ours, theirs], days=30)
    assert purge(config=config)["signal_payload"] == 1
    assert api_get(client, org, f"/v1/signals/{ours}")["payload_expired"] is True
    assert api_get(client, other_org, f"/v1/signals/{theirs}")["payload_expired"] is False


def test_a_flow_events_data_expires_and_the_event_stays_listed(client, org, make_flow, flow_key, run_jobs, config):
    flow = make_flow()
    for n in range(2):
        response = post_to_flow(client, flow, {**CUSTOM_EVENT, "id": f"e-{n}"}, **{"X-API-Key": flow_key})
        assert response.status_code == 200, response.data
    run_jobs()
    old, new = sorted(flow_events(client, org, flow), key=lambda event: event["received_at"])
    backdate(FlowEvent, [old["id"]], days=91)
    assert purge(config=config)["flow_event_payload"] == 1
    events = {event["id"]: event for event in flow_events(client, org, flow)}
    assert (events[old["id"]]["data"], events[old["id"]]["data_expired"]) == (None, True)
    assert events[new["id"]]["data"] == new["data"]
    assert events[new["id"]]["data_expired"] is False


def test_old_events_go_with_their_deliveries_and_attempts_unless_one_is_still_being_sent(
    client, org, receiver, run_jobs, config
):
    create_webhook(client, org, receiver, path="/ok", events=["user.created"])
    create_webhook(client, org, receiver, path="/down", events=["user.deleted"])
    receiver.answer = lambda request: (500 if request["path"] == "/down" else 200, b"", 0, {})
    delivered = [publish_event(client, org, "user.created")["id"] for _ in range(2)]
    retrying = publish_event(client, org, "user.deleted")["id"]
    run_jobs()
    assert Delivery.get(Delivery.event == retrying).status == "retrying"
    backdate(Event, [*delivered, retrying], days=91, column="created_at")
    assert purge(config=config) == {
        "signal_payload": 0,
        "flow_event_payload": 0,
        "event": 2,
        "delivery": 2,
        "delivery_attempt": 2,
        "activity": 0,
    }
    assert [event.id for event in Event.select()] == [retrying]
    assert Delivery.select().count() == 1
    assert DeliveryAttempt.select().count() == 1


def test_activities_are_kept_for_ever_unless_the_organization_sets_a_retention(client, org, project, run_jobs, config):
    ids = []
    for n in range(2):
        response = post_activity(client, project["path"], {**SEED_ACTIVITY, "externalId": f"call-{n}"})
        assert response.status_code == 202, response.data
        ids.append(response.get_json()["id"])
    run_jobs()
    backdate(Activity, ids[:1], days=400)
    assert purge(config=config)["activity"] == 0
    put_retention(client, org, {"activity_days": 365})
    assert purge(config=config)["activity"] == 1
    assert client.get(f"/v1/activities/{ids[0]}", headers=org["headers"]).status_code == 404
    assert client.get(f"/v1/activities/{ids[1]}", headers=org["headers"]).status_code == 200


def test_a_small_batch_size_still_purges_everything_even_rows_received_at_the_same_moment(
    client, org, signal_key, run_jobs, config
):
    ids = [send_signal(client, signal_key, {"email": f"u{n}@example.com"}) for n in range(7)]
    run_jobs()
    moment = utcnow() - datetime.timedelta(days=100)
    Signal.update(received_at=moment).where(Signal.id.in_(ids[:5])).execute()  # five at the very same time
    backdate(Signal, ids[5:], days=95)
    batches = []
    purged = purge(config=config, batch_size=2, observe=lambda kind, rows: batches.append((kind, rows)))
    assert purged["signal_payload"] == 7
    assert batches == [("signal_payload", 2)] * 3 + [("signal_payload", 1)]  # 2+2+1 at that moment, then 2
    assert Signal.select().where(Signal.payload.is_null(False)).count() == 0


def test_the_next_purge_starts_where_the_last_ended_and_a_rescan_walks_everything(
    client, org, signal_key, run_jobs, config
):
    first = send_signal(client, signal_key, {"email": "ann@example.com"})
    run_jobs()
    backdate(Signal, [first], days=91)
    assert purge(config=config)["signal_payload"] == 1
    mark = RetentionPolicy.get(RetentionPolicy.organization == org["id"]).signal_payloads_cleared_before
    late = send_signal(client, signal_key, {"email": "bo@example.com"})
    run_jobs()
    backdate(Signal, [late], days=200)  # stored behind the mark, as a dead letter retried months on would be
    assert purge(config=config)["signal_payload"] == 0
    assert purge(config=config, rescan=True)["signal_payload"] == 1
    assert mark is not None


def test_a_stopped_purge_leaves_the_rest_for_the_next_one(client, org, signal_key, run_jobs, config):
    ids = [send_signal(client, signal_key, {"email": f"u{n}@example.com"}) for n in range(5)]
    run_jobs()
    backdate(Signal, ids, days=91)
    batches = []

    def after_two_batches() -> bool:
        return len(batches) >= 2

    stopped = purge(config=config, batch_size=2, should_stop=after_two_batches, observe=lambda *b: batches.append(b))
    assert stopped["signal_payload"] == 4
    assert purge(config=config, batch_size=2)["signal_payload"] == 1


def test_the_purge_job_counts_what_it_removed_in_the_metrics(client, app, org, signal_key, run_jobs):
    signal = send_signal(client, signal_key, {"email": "ann@example.com"})
    run_jobs()
    backdate(Signal, [signal], days=91)
    app.queues["default"].enqueue(purge_expired)
    run_jobs()
    assert api_get(client, org, f"/v1/signals/{signal}")["payload_expired"] is True
    assert value(scrape(client), "hookyard_purged_rows_total", kind="signal_payload") == 1


def test_a_purge_job_works_a_slice_at_a_time_and_queues_the_rest_behind_other_jobs(
    client, app, signal_key, run_jobs, monkeypatch
):
    monkeypatch.setattr(purging, "PURGE_SLICE", 0)  # out of time after each batch
    monkeypatch.setattr(purging, "BATCH_SIZE", 2)
    ids = [send_signal(client, signal_key, {"email": f"u{n}@example.com"}) for n in range(5)]
    run_jobs()
    backdate(Signal, ids, days=91)
    app.queues["default"].enqueue(purging.purge_expired)
    run_jobs()
    assert Signal.select().where(Signal.payload.is_null(False)).count() == 0
    samples = scrape(client)
    assert value(samples, "hookyard_jobs_total", queue="default", outcome="success") == 4  # 2, 2, 1, then none left
    assert value(samples, "hookyard_purged_rows_total", kind="signal_payload") == 5


def test_the_worker_schedules_one_purge_per_interval_on_rqs_scheduler(app, job_context):
    sweep_retention(job_context)
    sweep_retention(job_context)  # another worker's sweep, the same interval
    registry = app.queues["default"].scheduled_job_registry
    (job_id,) = registry.get_job_ids()
    job = app.queues["default"].fetch_job(job_id)
    assert job.func_name == f"{purge_expired.__module__}.purge_expired"
    due = registry.get_scheduled_time(job_id).replace(tzinfo=None)
    assert abs((due - utcnow()).total_seconds() - job_context.config.retention_purge_interval) < 60


def test_flask_purge_removes_what_expired_and_prints_it(app, client, org, signal_key, run_jobs):
    signal = send_signal(client, signal_key, {"email": "ann@example.com", "properties": {"blob": "x" * 20_000}})
    run_jobs()
    backdate(Signal, [signal], days=91)
    result = app.test_cli_runner().invoke(args=["purge", "--batch-size", "10"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["purged"]["signal_payload"] == 1
    if on_sqlite(app):
        assert printed["sqlite_pages_released"] > 0  # a new database has incremental auto-vacuum
    assert api_get(client, org, f"/v1/signals/{signal}")["payload_expired"] is True


def test_flask_vacuum_turns_on_incremental_auto_vacuum_on_sqlite(app):
    result = app.test_cli_runner().invoke(args=["vacuum"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    if printed["database"] == "sqlite":
        assert printed["auto_vacuum"] == "incremental"
        assert app.database.execute_sql("PRAGMA auto_vacuum").fetchone()[0] == 2
    else:
        assert "autovacuum" in printed["note"]


def test_on_sqlite_clearing_small_payloads_frees_whole_pages_that_go_back_to_the_disk(
    app, client, signal_key, run_jobs, config
):
    if not on_sqlite(app):
        pytest.skip("SQLite only: Postgres's autovacuum makes the space reusable")
    body = {"email": "ann@example.com", "properties": {"text": "x" * 600}}  # kept inside the row, no overflow page
    ids = [send_signal(client, signal_key, {**body, "messageId": f"m-{n}"}) for n in range(300)]
    run_jobs()
    backdate(Signal, ids, days=91)
    release_free_space()  # what earlier tests freed
    pages = app.database.execute_sql("PRAGMA page_count").fetchone()[0]
    assert purge(config=config)["signal_payload"] == 300
    freed = app.database.execute_sql("PRAGMA freelist_count").fetchone()[0]
    assert freed >= 30  # 300 rows of ~700 bytes filled ~50 pages of 4 KiB
    assert release_free_space() == freed
    assert app.database.execute_sql("PRAGMA page_count").fetchone()[0] == pages - freed


def test_on_sqlite_a_write_ahead_log_past_its_limit_is_emptied_between_transactions_only(app, client, signal_key,
                                                                                       run_jobs):  # fmt: skip
    log = f"{app.database.database}-wal"
    if not on_sqlite(app):
        assert bound_write_ahead_log(limit=0) is False  # Postgres: its own WAL is its business
        return
    send_signal(client, signal_key, {"email": "ann@example.com"})
    run_jobs()
    with app.database.connection_context():
        assert os.path.getsize(log) > 0
        assert bound_write_ahead_log() is False  # within WAL_LIMIT: left alone
        with app.database.atomic():
            Signal.update(mapped_signal="x").execute()
            assert bound_write_ahead_log(limit=0) is False  # never inside a transaction
        assert bound_write_ahead_log(limit=0) is True
        assert os.path.getsize(log) == 0
        assert Signal.select().where(Signal.mapped_signal == "x").count() == 1  # copied in, not lost


def test_on_sqlite_a_reader_busy_past_the_short_wait_leaves_the_log_for_next_time(app, client, signal_key, run_jobs):
    if not on_sqlite(app):
        pytest.skip("SQLite only")
    send_signal(client, signal_key, {"email": "ann@example.com"})
    run_jobs()
    reader = sqlite3.connect(app.database.database, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM signal").fetchone()  # a read transaction holding its snapshot
        with app.database.connection_context():
            Signal.update(mapped_signal="y").execute()  # a frame the reader's snapshot does not have
            started = time.monotonic()
            assert bound_write_ahead_log(limit=0) is False
            assert time.monotonic() - started < 2  # waited CHECKPOINT_WAIT_MS, not the 5 s busy_timeout
            assert app.database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 5000  # put back
    finally:
        reader.close()
    with app.database.connection_context():
        assert bound_write_ahead_log(limit=0) is True  # the reader gone: emptied


def test_on_sqlite_the_purge_keeps_the_write_ahead_log_in_bounds_between_batches(
    app, client, signal_key, run_jobs, config, monkeypatch
):
    if not on_sqlite(app):
        pytest.skip("SQLite only: Postgres recycles its own WAL")
    ids = [send_signal(client, signal_key, {"email": f"p{n}@example.com", "messageId": f"w-{n}"}) for n in range(12)]
    run_jobs()
    backdate(Signal, ids, days=91)
    with app.database.connection_context():
        bound_write_ahead_log(limit=0)  # start from an empty log, whatever earlier tests left in it
    monkeypatch.setattr(space, "WAL_LIMIT", 0)
    log, sizes = f"{app.database.database}-wal", []
    assert (
        purge(config=config, batch_size=4, observe=lambda *_: sizes.append(os.path.getsize(log)))["signal_payload"]
        == 12
    )
    assert len(sizes) == 3
    # Emptied before each batch: after each, the log holds that batch alone, not the ones before it.
    assert sizes[2] <= sizes[0] * 1.5
    assert Signal.select().where(Signal.id.in_(ids) & Signal.payload.is_null()).count() == 12


def test_a_stopped_flow_event_purge_resumes_where_it_stopped_across_flows(
    client, org, make_flow, flow_key, run_jobs, config
):
    flows = [make_flow(name=f"f{n}") for n in range(2)]
    for flow in flows:
        for n in range(3):
            body = {**CUSTOM_EVENT, "id": f"{flow['id']}-{n}"}
            assert post_to_flow(client, flow, body, **{"X-API-Key": flow_key}).status_code == 200
    run_jobs()
    backdate(FlowEvent, [row.id for row in FlowEvent.select()], days=91)
    walked = []

    def after_two_batches() -> bool:
        return len(walked) >= 2

    stopped = purge(config=config, batch_size=2, should_stop=after_two_batches, observe=lambda *b: walked.append(b))
    assert stopped["flow_event_payload"] == 4
    mark = RetentionPolicy.get(RetentionPolicy.organization == org["id"]).flow_event_payloads_cleared_before
    assert mark is not None  # the walk noted how far it got
    walked.clear()
    assert purge(config=config, batch_size=2, observe=lambda *b: walked.append(b))["flow_event_payload"] == 2
    assert walked == [("flow_event_payload", 2)]  # one batch: nothing walked twice
    assert FlowEvent.select().where(FlowEvent.data.is_null(False)).count() == 0


def test_a_dead_letter_retried_behind_the_purges_mark_is_still_purged(
    client, org, signal_key, run_jobs, config, redis, job_context
):
    from hookyard.ops.dead_letters import retry, sweep_dead_letters
    from models import DeadLetter

    first = send_signal(client, signal_key, {"email": "ann@example.com"})
    run_jobs()
    backdate(Signal, [first], days=91)
    purge(config=config)  # the mark moves to 90 days ago
    late = send_signal(client, signal_key, {"email": "late@example.com"})
    (item,) = redis.lrange("hy:signals:buffer", 0, -1)
    envelope = json.loads(item)
    envelope["at"] -= 200 * 24 * 3600 * 1000  # received 200 days ago, set aside since
    redis.delete("hy:signals:buffer", "hy:dead-letters:sweep-lock")
    redis.rpush("hy:signals:dead-letter", json.dumps({"item": json.dumps(envelope), "error": "fixed since"}))
    sweep_dead_letters(job_context)
    assert retry(redis, "hy", app_queue(job_context), DeadLetter.get()) is True
    run_jobs()
    assert Signal.get_by_id(late).payload is not None
    assert purge(config=config)["signal_payload"] == 1  # found though it lies behind where the last purge ended
    assert Signal.get_by_id(late).payload is None


def app_queue(job_context):
    return job_context.queues["ingest"]


def test_an_events_many_deliveries_are_deleted_a_batch_per_transaction(client, org, receiver, run_jobs, config):
    for n in range(5):
        create_webhook(client, org, receiver, path=f"/h{n}")
    publish_event(client, org)
    run_jobs()
    backdate(Event, [row.id for row in Event.select()], days=91, column="created_at")
    batches = []
    purged = purge(config=config, batch_size=2, observe=lambda kind, rows: batches.append((kind, rows)))
    assert (purged["event"], purged["delivery"], purged["delivery_attempt"]) == (1, 5, 5)
    assert [rows for kind, rows in batches if kind == "delivery"] == [2, 2, 1]
    assert Delivery.select().count() == DeliveryAttempt.select().count() == 0
