"""The worker: jobs run through a real RQ worker, a failing job never kills it, SIGTERM stops it cleanly."""

import os
import signal
import subprocess
import sys
import time

import pytest
from rq.job import Job, JobStatus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_failing_job_does_not_stop_the_next_one(app, run_jobs, client):
    failing = app.queues["default"].enqueue("tests.fixtures.fail")
    passing = app.queues["default"].enqueue("tests.fixtures.succeed", 42)
    run_jobs()
    assert Job.fetch(failing.id, connection=app.redis).get_status() == JobStatus.FAILED
    assert Job.fetch(passing.id, connection=app.redis).return_value() == 42
    text = client.get("/metrics").get_data(as_text=True)
    assert 'hookyard_jobs_total{outcome="default:failure"} 1.0' in text
    assert 'hookyard_jobs_total{outcome="default:success"} 1.0' in text


@pytest.mark.slow
def test_sigterm_finishes_the_job_in_hand_then_exits(app, config, tmp_path):
    marker = tmp_path / "done"
    env = dict(os.environ, DATABASE_URL=config.database_url, REDIS_URL=config.redis_url)
    process = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        job = app.queues["default"].enqueue("tests.fixtures.sleep_then_write", 1.5, str(marker))
        deadline = time.monotonic() + 15
        while job.get_status(refresh=True) != JobStatus.STARTED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.get_status() == JobStatus.STARTED
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert marker.exists(), process.stdout.read().decode()
    assert job.get_status(refresh=True) == JobStatus.FINISHED
