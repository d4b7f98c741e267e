"""/metrics as Prometheus reads it: HTTP in, real Redis, a real worker, the exposition parsed by prometheus_client.

Counts kept per web process (intake) only grow during the test run, so tests compare two scrapes; counts
kept in Redis start from nothing in each test's flushed database.
"""

from tests.helpers import (
    CUSTOM_EVENT,
    SIGNAL_WEBHOOK,
    create_webhook,
    deliveries,
    grew,
    post_to_flow,
    publish_event,
    scrape,
    send_signal,
    value,
    wait_until,
)

SIGNAL = {"email": "ann@example.com", "event": "Signup"}


def answers(script: list[tuple[int, float]]):
    """Answer each request with the next (status, delay) of `script`, the last one from then on."""
    remaining = list(script)

    def answer(_request):
        status, delay = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return status, b"", delay, {}

    return answer


def test_signals_are_counted_as_accepted_or_refused_by_error_code(client, signal_key, run_jobs):
    before = scrape(client)
    send_signal(client, signal_key, SIGNAL)
    send_signal(client, signal_key, {**SIGNAL, "email": "bo@example.com"})
    client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", data=b"{not json", content_type="application/json")
    client.post(f"{SIGNAL_WEBHOOK}/hy_live_unknown", json=SIGNAL)
    after = scrape(client)
    assert grew(before, after, "hookyard_signals_accepted_total") == 2
    assert grew(before, after, "hookyard_signals_rejected_total", reason="invalid_json") == 1
    assert grew(before, after, "hookyard_signals_rejected_total", reason="unauthorized") == 1
    assert value(after, "hookyard_buffer_depth", buffer="signals") == 2
    run_jobs()
    assert value(scrape(client), "hookyard_buffer_depth", buffer="signals") == 0


def test_a_batch_counts_each_signal_it_accepted_and_each_it_refused(client, signal_key):
    before = scrape(client)
    items = [SIGNAL, SIGNAL, "not an object", {"email": "not an address"}]
    assert client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=items).status_code == 202
    too_many = client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=[SIGNAL] * 4001)
    assert too_many.status_code == 413
    after = scrape(client)
    assert grew(before, after, "hookyard_signals_accepted_total") == 2
    assert grew(before, after, "hookyard_signals_rejected_total", reason="invalid_signal") == 1
    assert grew(before, after, "hookyard_signals_rejected_total", reason="validation_failed") == 1
    assert grew(before, after, "hookyard_signals_rejected_total", reason="payload_too_large") == 4001


def test_flow_events_are_counted_as_accepted_or_refused_by_error_code(client, make_flow, flow_key, run_jobs):
    flow = make_flow()
    before = scrape(client)
    assert post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key}).status_code == 200
    assert post_to_flow(client, flow, CUSTOM_EVENT).status_code == 401
    assert post_to_flow(client, {"webhook_id": "wh_nosuchflow"}, CUSTOM_EVENT).status_code == 404
    after = scrape(client)
    assert grew(before, after, "hookyard_flow_events_accepted_total") == 1
    assert grew(before, after, "hookyard_flow_events_rejected_total", reason="unauthorized") == 1
    assert grew(before, after, "hookyard_flow_events_rejected_total", reason="not_found") == 1
    assert value(after, "hookyard_buffer_depth", buffer="flows") == 1
    run_jobs()
    assert value(scrape(client), "hookyard_buffer_depth", buffer="flows") == 0


def test_an_item_the_worker_cannot_store_shows_in_the_dead_letters(client, make_flow, flow_key, run_jobs, redis):
    flow = make_flow()
    assert value(scrape(client), "hookyard_dead_letters", buffer="flows") == 0
    redis.rpush("hy:flows:buffer", b"\n{not json")
    post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    run_jobs()
    after = scrape(client)
    assert value(after, "hookyard_dead_letters", buffer="flows") == 1
    assert value(after, "hookyard_dead_letters", buffer="signals") == 0


def test_delivery_attempts_are_counted_by_outcome_with_their_duration(client, org, receiver, run_jobs):
    hook = create_webhook(client, org, receiver)
    receiver.answer = answers([(500, 0.0), (200, 0.3)])
    publish_event(client, org)
    run_jobs()
    first = scrape(client)
    assert value(first, "hookyard_delivery_attempts_total", outcome="http_error") == 1
    assert value(first, "hookyard_delivery_attempts_total", outcome="success") == 0
    assert value(first, "hookyard_delivery_attempt_duration_seconds_count") == 1
    # The retry is due a second later (the tests' schedule): until it is sent, the oldest due delivery ages.
    wait_until(lambda: value(scrape(client), "hookyard_oldest_due_delivery_age_seconds") > 0, timeout=5)
    (delivery,) = deliveries(client, org, hook["id"])
    assert client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=org["headers"]).status_code == 202
    run_jobs()
    after = scrape(client)
    assert value(after, "hookyard_delivery_attempts_total", outcome="http_error") == 1
    assert value(after, "hookyard_delivery_attempts_total", outcome="success") == 1
    assert value(after, "hookyard_delivery_attempt_duration_seconds_count") == 2
    assert value(after, "hookyard_delivery_attempt_duration_seconds_sum") >= 0.3
    assert value(after, "hookyard_delivery_attempt_duration_seconds_bucket", le="0.25") == 1
    assert value(after, "hookyard_delivery_attempt_duration_seconds_bucket", le="0.5") == 2
    assert value(after, "hookyard_oldest_due_delivery_age_seconds") == 0


def test_an_attempt_that_cannot_connect_or_times_out_is_counted_as_such(client, org, receiver, run_jobs):
    create_webhook(client, org, receiver, path="/slow")
    client.post("/v1/webhooks", json={"url": "http://127.0.0.1:1/closed", "events": ["*"]}, headers=org["headers"])
    receiver.answer = answers([(200, 3.0)])  # past the tests' 2 s DELIVERY_TIMEOUT
    publish_event(client, org)
    run_jobs()
    samples = scrape(client)
    assert value(samples, "hookyard_delivery_attempts_total", outcome="timeout") == 1
    # The refused one is retried a second later (the tests' schedule) while the slow one still hangs.
    refused = value(samples, "hookyard_delivery_attempts_total", outcome="connection_error")
    assert refused >= 1
    assert value(samples, "hookyard_delivery_attempts_total", outcome="success") == 0
    assert value(samples, "hookyard_delivery_attempt_duration_seconds_bucket", le="+Inf") == 1 + refused
    assert value(samples, "hookyard_delivery_attempt_duration_seconds_bucket", le="1.0") == refused


def test_jobs_are_counted_by_queue_and_outcome_in_separate_labels(app, client, run_jobs):
    app.queues["default"].enqueue("tests.fixtures.fail")
    app.queues["default"].enqueue("tests.fixtures.succeed", 1)
    app.queues["default"].enqueue("tests.fixtures.succeed", 2)
    assert value(scrape(client), "hookyard_queue_depth", queue="default") == 3
    run_jobs()
    samples = scrape(client)
    assert value(samples, "hookyard_jobs_total", queue="default", outcome="success") == 2
    assert value(samples, "hookyard_jobs_total", queue="default", outcome="failure") == 1
    assert value(samples, "hookyard_queue_depth", queue="default") == 0
    assert not [key for key in samples if key[0].startswith("hookyard_deliverys")]


def test_a_shared_histogram_counts_each_observation_in_its_bucket(redis):
    from hookyard.core.metrics import SharedHistogram

    histogram = SharedHistogram("test_seconds", "A test.", buckets=(0.005, 0.5))
    histogram.observe(redis, "hy", [0.004, 0.005, 0.3, 99.0])
    fields = {tuple(k.decode().split("|")[1:]): int(v) for k, v in redis.hgetall("hy:metrics:counts").items()}
    family = histogram.family(fields)
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples[("test_seconds_bucket", "0.005")] == 2
    assert samples[("test_seconds_bucket", "0.5")] == 3
    assert samples[("test_seconds_bucket", "+Inf")] == 4
    assert samples[("test_seconds_count", None)] == 4
    assert abs(samples[("test_seconds_sum", None)] - 99.309) < 1e-6
