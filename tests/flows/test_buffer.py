"""The flow buffer behind the requests: drain jobs, claims given back or stored twice, the dead letter."""

import json

from tests.helpers import CUSTOM_EVENT, flow_events, post_to_flow, subscribe


def test_a_claim_stored_twice_after_a_crash_logs_and_publishes_nothing_twice(
    client, org, make_flow, flow_key, receiver, run_jobs, redis, job_context
):
    subscribe(client, org, receiver)
    flow = make_flow()
    post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    (item,) = redis.lrange("hy:flows:buffer", 0, -1)
    run_jobs()
    # A drain job that died after its commit but before deleting its claim: the sweep gives the claim
    # back to the buffer and the next drain stores it again.
    redis.rpush("hy:flows:processing:gone-job", item)
    from hookyard.flows.jobs import sweep_flows

    redis.delete("hy:flows:sweep-lock")  # taken by the maintenance of the worker run_jobs started
    sweep_flows(job_context)
    assert redis.llen("hy:flows:buffer") == 1
    assert not redis.exists("hy:flows:processing:gone-job")
    run_jobs()
    assert len(flow_events(client, org, flow)) == 1
    assert len(receiver.received()) == 1
    assert redis.llen("hy:flows:buffer") == 0


def test_a_bad_item_is_set_aside_and_the_rest_of_its_claim_stored(client, org, make_flow, flow_key, run_jobs, redis):
    flow = make_flow()
    post_to_flow(client, flow, {"event": "before"}, **{"X-API-Key": flow_key})
    redis.rpush("hy:flows:buffer", b"\n{not json")
    post_to_flow(client, flow, {"event": "after"}, **{"X-API-Key": flow_key})
    run_jobs()
    assert sorted(e["event"] for e in flow_events(client, org, flow)) == ["after", "before"]
    (dead,) = redis.lrange("hy:flows:dead-letter", 0, -1)
    assert json.loads(dead)["item"] == "\n{not json"


def test_events_of_a_flow_deleted_after_accepting_them_are_dropped_quietly(
    client, org, make_flow, flow_key, run_jobs, redis
):
    doomed, kept = make_flow(), make_flow()
    post_to_flow(client, doomed, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    post_to_flow(client, kept, CUSTOM_EVENT, **{"X-API-Key": flow_key})
    client.delete(f"/v1/flows/{doomed['id']}", headers=org["headers"])
    run_jobs()
    assert len(flow_events(client, org, kept)) == 1  # the rest of the claim is stored as usual
    assert redis.llen("hy:flows:dead-letter") == 0
    assert redis.llen("hy:flows:buffer") == 0


def test_a_long_drain_hands_over_to_a_fresh_job(client, org, make_flow, flow_key, run_jobs, monkeypatch, redis):
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    from hookyard.core import buffer
    from hookyard.core.queues import INGEST_QUEUE
    from hookyard.flows import jobs as flow_jobs

    monkeypatch.setattr(flow_jobs, "CLAIM_SIZE", 1)
    monkeypatch.setattr(buffer, "DRAIN_BUDGET", 0)  # every drain stops after its first claim
    flow = make_flow()
    for n in range(3):
        post_to_flow(client, flow, {"event": "tick", "n": n}, **{"X-API-Key": flow_key})
    run_jobs()
    assert sorted(event["data"]["n"] for event in flow_events(client, org, flow)) == [0, 1, 2]  # none lost
    drains = [
        job
        for job in FinishedJobRegistry(INGEST_QUEUE, connection=redis).get_job_ids()
        if Job.fetch(job, connection=redis).func_name == "hookyard.flows.jobs.drain_flow_events"
    ]
    assert len(drains) == 3  # one drain per claim, each handing the rest to the next


def test_a_drain_that_runs_out_of_time_keeps_its_claim_for_the_retry(
    client, org, make_flow, flow_key, run_jobs, monkeypatch, redis
):
    from rq.timeouts import JobTimeoutException

    from hookyard.flows import jobs as flow_jobs

    real, calls = flow_jobs.store_flow_events, []

    def slow_once(envelopes, max_attempts):
        calls.append(len(envelopes))
        if len(calls) == 1:
            raise JobTimeoutException("Task exceeded maximum timeout value (600 seconds)")
        return real(envelopes, max_attempts)

    monkeypatch.setattr(flow_jobs, "store_flow_events", slow_once)
    flow = make_flow()
    post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key, "Idempotency-Key": "once"})
    run_jobs()  # the first run fails; RQ's retry runs the same job, which finds its claim
    assert len(flow_events(client, org, flow)) == 1
    assert redis.llen("hy:flows:dead-letter") == 0


def test_a_set_aside_event_releases_its_claim_so_the_senders_retry_gets_in(
    client, org, make_flow, flow_key, run_jobs, monkeypatch, redis
):
    from hookyard.flows import jobs as flow_jobs

    def broken(envelopes, max_attempts):
        raise ValueError("cannot store this")

    flow = make_flow()
    with monkeypatch.context() as patch:
        patch.setattr(flow_jobs, "store_flow_events", broken)
        post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key, "Idempotency-Key": "retry-me"})
        run_jobs()
    assert redis.llen("hy:flows:dead-letter") == 1
    retry = post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key, "Idempotency-Key": "retry-me"})
    assert retry.get_json()["status"] == "queued"  # not answered as a duplicate of the lost one
    run_jobs()
    assert len(flow_events(client, org, flow)) == 1


def test_a_recovered_claim_goes_back_in_its_order(redis):
    from hookyard.core.buffer import ADOPT_SCRIPT

    redis.rpush("claim", *[str(n) for n in range(2500)])
    redis.rpush("buffer", "later")
    assert redis.eval(ADOPT_SCRIPT, 2, "claim", "buffer") == 2500
    assert [v.decode() for v in redis.lrange("buffer", 0, -1)] == [str(n) for n in range(2500)] + ["later"]
