"""The worker in process: jobs run through a real RQ worker, and a failing job never kills it.

The worker as a process of its own (SIGTERM, SIGKILL) is tested in tests/system/test_worker_process.py.
"""

from rq.job import Job, JobStatus


def test_a_failing_job_does_not_stop_the_next_one(app, run_jobs, client):
    failing = app.queues["default"].enqueue("tests.fixtures.fail")
    passing = app.queues["default"].enqueue("tests.fixtures.succeed", 42)
    run_jobs()
    assert Job.fetch(failing.id, connection=app.redis).get_status() == JobStatus.FAILED
    assert Job.fetch(passing.id, connection=app.redis).return_value() == 42
    text = client.get("/metrics").get_data(as_text=True)
    assert 'hookyard_jobs_total{outcome="failure",queue="default"} 1.0' in text
    assert 'hookyard_jobs_total{outcome="success",queue="default"} 1.0' in text


def test_jobs_are_queued_by_their_function(app, client, signal_key):
    client.post(f"/api/signal-staging/webhook/{signal_key}", json={"email": "ann@x.io", "event": "Signup"})
    (job,) = app.queues["ingest"].jobs
    assert job.func_name == "hookyard.signals.jobs.drain_signals"


def test_a_drain_queued_under_its_old_worker_path_still_runs_after_an_upgrade(app, client, org, signal_key, run_jobs):
    accepted = client.post(f"/api/signal-staging/webhook/{signal_key}", json={"email": "ann@x.io", "event": "Signup"})
    app.queues["ingest"].empty()  # as if queued by the previous release, which named the job by its string path
    old = app.queues["ingest"].enqueue("worker.drain_signals")
    run_jobs()
    assert Job.fetch(old.id, connection=app.redis).get_status() == JobStatus.FINISHED
    stored = client.get(f"/v1/signals/{accepted.get_json()['id']}", headers=org["headers"])
    assert stored.status_code == 200


def test_every_old_worker_path_names_the_job_that_replaced_it():
    import worker
    from hookyard.activities import jobs as activity_jobs
    from hookyard.flows import jobs as flow_jobs
    from hookyard.mapping import jobs as mapping_jobs
    from hookyard.outbound import jobs as outbound_jobs
    from hookyard.signals import jobs as signal_jobs

    assert worker.drain_signals is signal_jobs.drain_signals
    assert worker.import_signals is signal_jobs.import_signals
    assert worker.apply_mapping_rule is mapping_jobs.apply_mapping_rule
    assert worker.store_activity is activity_jobs.store_activity
    assert worker.drain_flow_events is flow_jobs.drain_flow_events
    assert worker.dispatch_deliveries is outbound_jobs.dispatch_deliveries
    assert worker.publish_event is outbound_jobs.publish_api_event
    assert worker.redeliver is outbound_jobs.redeliver
