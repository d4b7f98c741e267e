"""Signal staging refusals: keys and secrets, bad bodies, sizes, plan limits, usage, Redis down."""

import datetime
import io
import json

import pytest

from hookyard.core.config import Config
from models import ApiKey
from tests.helpers import SIGNAL_BULK, SIGNAL_WEBHOOK


def assert_error(response, status, code):
    assert response.status_code == status, response.data
    assert response.get_json()["error"] == code
    return response.get_json()


def test_an_unknown_key_is_a_401(client):
    body = assert_error(client.post(f"{SIGNAL_WEBHOOK}/hy_live_unknown", json={"event": "x"}), 401, "unauthorized")
    assert "not valid" in body["message"]


def test_an_inactive_key_is_a_401(client, org, make_api_key):
    key = make_api_key()
    client.patch(f"/v1/api-keys/{key['id']}", json={"active": False}, headers=org["headers"])
    body = assert_error(client.post(f"{SIGNAL_WEBHOOK}/{key['key']}", json={"event": "x"}), 401, "unauthorized")
    assert "inactive" in body["message"]


def test_an_expired_key_is_a_401(client, make_api_key):
    key = make_api_key()
    ApiKey.update(expires_at=datetime.datetime(2020, 1, 1)).where(ApiKey.id == key["id"]).execute()
    from hookyard.keys import auth as api_key_auth

    api_key_auth.forget(ApiKey.get_by_id(key["id"]).key_hash)
    body = assert_error(client.post(f"{SIGNAL_WEBHOOK}/{key['key']}", json={"event": "x"}), 401, "unauthorized")
    assert "expired" in body["message"]


def test_a_flow_key_is_refused_here(client, make_api_key):
    key = make_api_key(endpoint_type="flow")["key"]
    body = assert_error(client.post(f"{SIGNAL_WEBHOOK}/{key}", json={"event": "x"}), 401, "unauthorized")
    assert "flow" in body["message"]


def test_a_key_with_a_secret_needs_the_right_x_api_secret(client, make_api_key):
    key = make_api_key(secret=True)
    url = f"{SIGNAL_WEBHOOK}/{key['key']}"
    assert "X-Api-Secret" in assert_error(client.post(url, json={"e": 1}), 401, "unauthorized")["message"]
    assert_error(client.post(url, json={"e": 1}, headers={"X-Api-Secret": "hy_secret_wrong"}), 401, "unauthorized")
    assert client.post(url, json={"e": 1}, headers={"X-Api-Secret": key["secret"]}).status_code == 202


def test_a_deleted_key_is_refused(client, org, make_api_key):
    key = make_api_key()
    client.delete(f"/v1/api-keys/{key['id']}", headers=org["headers"])
    assert_error(client.post(f"{SIGNAL_WEBHOOK}/{key['key']}", json={"e": 1}), 401, "unauthorized")


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"{nope", "application/json", 400, "invalid_json"),
        (b'{"a": "\xff"}', "application/json", 400, "invalid_json"),
        (b'{"a": NaN}', "application/json", 400, "invalid_json"),
        (b"[1, 2]", "application/json", 400, "invalid_json"),
        (b'"text"', "application/json", 400, "invalid_json"),
        (b'{"email": "nope"}', "application/json", 400, "validation_failed"),
        (b'{"event": 5, "anonymousId": {"a": 1}}', "application/json", 400, "validation_failed"),
        (b"event=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_bad_bodies_are_refused_with_the_problem_named(client, signal_key, data, content_type, status, code):
    body = assert_error(
        client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", data=data, content_type=content_type), status, code
    )
    if code == "validation_failed":
        assert body["errors"]


def test_validation_names_every_bad_field(client, signal_key):
    body = assert_error(
        client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"event": 5, "anonymousId": {"a": 1}}),
        400,
        "validation_failed",
    )
    assert set(body["errors"]) == {"event", "anonymousId"}


def test_a_signal_over_256_kb_is_a_413(client, signal_key):
    response = client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"event": "big", "blob": "x" * (256 * 1024)})
    assert_error(response, 413, "payload_too_large")


def post_chunked(client, path, body: bytes, content_type="application/json"):
    """Post `body` as gunicorn hands a chunked request to the app: no Content-Length, the input terminated."""
    headers = {"Transfer-Encoding": "chunked", "Content-Type": content_type}
    environ = {"wsgi.input_terminated": True}
    return client.post(path, input_stream=io.BytesIO(body), headers=headers, environ_overrides=environ)


def test_a_chunked_signal_over_256_kb_is_a_413(client, signal_key):
    body = json.dumps({"event": "big", "blob": "x" * (300 * 1024)}).encode()
    assert_error(post_chunked(client, f"{SIGNAL_WEBHOOK}/{signal_key}", body), 413, "payload_too_large")


def test_a_chunked_signal_within_the_limit_is_accepted(client, signal_key):
    body = json.dumps({"email": "ann@x.io", "blob": "x" * 1000}).encode()
    assert post_chunked(client, f"{SIGNAL_WEBHOOK}/{signal_key}", body).status_code == 202


def test_a_chunked_bulk_import_over_the_limit_is_a_413_and_nothing_is_accepted(app, config, org, signal_key):
    from app import create_app

    small = create_app(Config(**{**config.__dict__, "max_bulk_bytes": 100_000})).test_client()
    lines = b"\n".join(json.dumps({"email": f"u{n}@x.io", "event": "Imported"}).encode() for n in range(3000))
    assert len(lines) > 100_000
    response = post_chunked(small, f"{SIGNAL_BULK}/{signal_key}", lines, "application/x-ndjson")
    assert_error(response, 413, "payload_too_large")
    assert small.get("/v1/usage", headers=org["headers"]).get_json()["raw_signals"] == 0


def test_nothing_refused_is_counted(client, org, signal_key):
    client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", data=b"{nope", content_type="application/json")
    client.post(f"{SIGNAL_WEBHOOK}/hy_live_unknown", json={"event": "x"})
    assert client.get("/v1/usage", headers=org["headers"]).get_json()["raw_signals"] == 0


def test_rate_limits_default_to_none_and_can_be_set(client, org):
    assert client.get("/v1/rate-limits", headers=org["headers"]).get_json() == {
        "raw_signals_per_month": None,
        "signals_per_second": None,
        "overages_enabled": False,
    }
    limits = {"raw_signals_per_month": 1000, "signals_per_second": 50, "overages_enabled": True}
    assert client.put("/v1/rate-limits", json=limits, headers=org["headers"]).get_json() == limits
    assert client.get("/v1/rate-limits", headers=org["headers"]).get_json() == limits


def test_rate_limits_refuse_bad_values(client, org):
    body = assert_error(
        client.put(
            "/v1/rate-limits", json={"raw_signals_per_month": -1, "signals_per_second": 0}, headers=org["headers"]
        ),
        400,
        "validation_failed",
    )
    assert set(body["errors"]) == {"raw_signals_per_month", "signals_per_second", "overages_enabled"}


def test_the_month_limit_refuses_with_the_seed_message(client, org, signal_key):
    client.put(
        "/v1/rate-limits",
        json={"raw_signals_per_month": 3, "signals_per_second": None, "overages_enabled": False},
        headers=org["headers"],
    )
    for n in range(3):
        assert client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": n}).status_code == 202
    response = client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": 3})
    body = assert_error(response, 429, "rate_limited")
    assert body["message"] == "Raw signal limit reached. Upgrade plan or enable overages"
    assert int(response.headers["Retry-After"]) > 0
    usage = client.get("/v1/usage", headers=org["headers"]).get_json()
    assert usage == {
        "period": datetime.datetime.now(datetime.UTC).strftime("%Y-%m"),
        "raw_signals": 3,
        "limit": 3,
        "overages_enabled": False,
        "overage": 0,
    }


def test_a_redis_that_lost_its_data_recounts_the_month_from_stored_signals(client, org, signal_key, run_jobs, redis):
    client.put(
        "/v1/rate-limits",
        json={"raw_signals_per_month": 3, "signals_per_second": None, "overages_enabled": False},
        headers=org["headers"],
    )
    for n in range(2):
        assert client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": n}).status_code == 202
    run_jobs()
    redis.flushdb()  # counters and limits gone; the two stored signals are not
    assert client.get("/v1/usage", headers=org["headers"]).get_json()["raw_signals"] == 2
    redis.flushdb()
    assert client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": 2}).status_code == 202  # the third of three
    assert_error(client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": 3}), 429, "rate_limited")
    assert client.get("/v1/usage", headers=org["headers"]).get_json()["raw_signals"] == 3


def test_limits_lost_again_right_after_loading_are_a_503_not_a_500(app, client, org, signal_key, redis):
    intake = app.extensions["signal_intake"]
    load = intake.load_limits

    def load_then_lose(organization_id):  # a Redis evicting or flushing as fast as the limits arrive
        load(organization_id)
        redis.delete(intake.keys.limits(organization_id))

    intake.load_limits = load_then_lose
    response = client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": 1})
    assert_error(response, 503, "service_unavailable")
    assert response.headers["Retry-After"] == "5"
    assert redis.llen(intake.keys.buffer) == 0  # nothing was accepted
    intake.load_limits = load
    assert client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": 1}).status_code == 202


def test_a_batch_counts_each_signal_and_is_refused_whole_past_the_limit(client, org, signal_key):
    client.put(
        "/v1/rate-limits",
        json={"raw_signals_per_month": 5, "signals_per_second": None, "overages_enabled": False},
        headers=org["headers"],
    )
    assert client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=[{"n": n} for n in range(4)]).status_code == 202
    assert_error(client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=[{"n": 10}, {"n": 11}]), 429, "rate_limited")
    assert client.get("/v1/usage", headers=org["headers"]).get_json()["raw_signals"] == 4


def test_with_overages_on_signals_past_the_limit_count_as_overage(client, org, signal_key):
    client.put(
        "/v1/rate-limits",
        json={"raw_signals_per_month": 2, "signals_per_second": None, "overages_enabled": True},
        headers=org["headers"],
    )
    for n in range(5):
        assert client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": n}).status_code == 202
    usage = client.get("/v1/usage", headers=org["headers"]).get_json()
    assert (usage["raw_signals"], usage["overage"], usage["overages_enabled"]) == (5, 3, True)


def test_the_per_second_limit_answers_429_with_retry_after(client, org, signal_key):
    client.put(
        "/v1/rate-limits",
        json={"raw_signals_per_month": None, "signals_per_second": 3, "overages_enabled": False},
        headers=org["headers"],
    )
    statuses = [client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": n}) for n in range(8)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited
    assert limited[0].headers["Retry-After"] == "1"
    assert limited[0].get_json()["error"] == "rate_limited"


def test_limits_hold_for_a_second_web_process(app, config, client, org, signal_key):
    """Counting lives in Redis: another app instance (another process) sees the same count."""
    from app import create_app

    client.put(
        "/v1/rate-limits",
        json={"raw_signals_per_month": 1, "signals_per_second": None, "overages_enabled": False},
        headers=org["headers"],
    )
    assert client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": 1}).status_code == 202
    other = create_app(config).test_client()
    assert other.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": 2}).status_code == 429


def test_ids_never_repeat_across_processes_and_a_redis_flush(app, config, client, signal_key, redis):
    from app import create_app

    ids = [client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": n}).get_json()["id"] for n in range(3)]
    redis.flushdb()
    other = create_app(config).test_client()
    ids += [other.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": n}).get_json()["id"] for n in range(3, 6)]
    ids += [client.post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"n": n}).get_json()["id"] for n in range(6, 9)]
    assert len(set(ids)) == 9


def test_redis_down_is_a_503_and_nothing_is_accepted(config, org, signal_key):
    from app import create_app

    down = create_app(Config(**{**config.__dict__, "redis_url": "redis://127.0.0.1:1/0"}))
    response = down.test_client().post(f"{SIGNAL_WEBHOOK}/{signal_key}", json={"event": "x"})
    assert_error(response, 503, "service_unavailable")
    assert response.headers["Retry-After"]
