"""One error vocabulary: every failure is JSON `{"error", "message"}` with the right status, never HTML."""

import base64
import json

import pytest
from flask import current_app

from hookyard.core.config import Config


def post_raw(client, data, content_type="application/json", headers=None):
    return client.post("/v1/api-keys", data=data, content_type=content_type, headers=headers)


def assert_error(response, status, code):
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == code
    assert body["message"]
    return body


def test_unknown_path_is_a_json_404(client):
    assert_error(client.get("/nope"), 404, "not_found")


def test_wrong_method_is_a_json_405(client):
    assert_error(client.put("/healthz"), 405, "method_not_allowed")


def test_invalid_json_is_a_400(client, org):
    body = assert_error(post_raw(client, b"{not json", headers=org["headers"]), 400, "invalid_json")
    assert "not valid JSON" in body["message"]


def test_invalid_utf8_is_a_400(client, org):
    assert_error(post_raw(client, b'{"name": "\xff\xfe"}', headers=org["headers"]), 400, "invalid_json")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_numbers_are_a_400(client, org, literal):
    assert_error(post_raw(client, b'{"name": ' + literal + b"}", headers=org["headers"]), 400, "invalid_json")


def test_deeply_nested_json_is_a_400_not_a_recursion_error(client, org):
    deep = b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert_error(post_raw(client, deep, headers=org["headers"]), 400, "invalid_json")
    moderately = b'{"name": ' + b"[" * 100 + b"]" * 100 + b"}"
    body = assert_error(post_raw(client, moderately, headers=org["headers"]), 400, "invalid_json")
    assert "nested deeper" in body["message"]


def test_an_array_where_an_object_is_expected_is_a_400(client, org):
    body = assert_error(post_raw(client, b"[1, 2]", headers=org["headers"]), 400, "invalid_json")
    assert "object" in body["message"]
    assert "array" in body["message"]


def test_empty_body_is_a_400(client, org):
    assert_error(post_raw(client, b"", headers=org["headers"]), 400, "invalid_json")


def test_wrong_content_type_is_a_415(client, org):
    assert_error(
        post_raw(client, b"name=x", "application/x-www-form-urlencoded", org["headers"]), 415, "unsupported_media_type"
    )


def test_body_over_the_limit_is_a_413(config, org):
    from app import create_app

    small = create_app(Config(**{**config.__dict__, "max_body_bytes": 100}))
    response = small.test_client().post(
        "/v1/api-keys", data=b'{"name": "' + b"x" * 200 + b'"}', content_type="application/json", headers=org["headers"]
    )
    assert_error(response, 413, "payload_too_large")


def test_an_unexpected_exception_is_a_json_500(app, client):
    def explode():
        raise RuntimeError("boom")

    app.add_url_rule("/explode", "explode", explode)
    body = assert_error(client.get("/explode"), 500, "internal_error")
    assert "boom" not in body["message"]


def test_redis_down_is_a_503_with_retry_after(config, redis):
    from app import create_app

    down = create_app(Config(**{**config.__dict__, "redis_url": "redis://127.0.0.1:1/0"}))

    def enqueue():
        current_app.queues["default"].enqueue("tests.fixtures.succeed")
        return {"queued": True}, 202

    down.add_url_rule("/enqueue", "enqueue", enqueue, methods=["POST"])
    response = down.test_client().post("/enqueue")
    body = assert_error(response, 503, "service_unavailable")
    assert "Redis" in body["message"]
    assert response.headers["Retry-After"]


def test_database_down_is_a_503_with_retry_after(config, redis):
    from app import create_app

    down = create_app(Config(**{**config.__dict__, "database_url": "postgresql://nobody@127.0.0.1:1/none"}))
    response = down.test_client().get("/v1/api-keys", headers={"Authorization": "Bearer hy_mgmt_x"})
    body = assert_error(response, 503, "service_unavailable")
    assert "database" in body["message"]
    assert response.headers["Retry-After"]


@pytest.mark.parametrize(
    ("path", "position"),
    [("/v1/signals", ["abc"]), ("/v1/webhooks", [7]), ("/v1/flows", ["2026-11-01T12:00:00", 7])],
)
def test_a_cursor_carrying_an_id_of_the_wrong_type_is_a_400(client, org, path, position):
    cursor = base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")
    response = client.get(f"{path}?cursor={cursor}", headers=org["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_cursor"


TOO_BIG = "99999999999999999999999"  # past a BIGINT


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/api-keys/{TOO_BIG}",
        f"/v1/signals/{TOO_BIG}",
        f"/v1/leads/{TOO_BIG}",
        f"/v1/leads/{TOO_BIG}/signals",
        f"/v1/mapping-rules/{TOO_BIG}",
        f"/v1/mapping-rules/{TOO_BIG}/apply/abc",
    ],
)
def test_an_id_past_a_bigint_is_a_404(client, org, path):
    response = client.get(path, headers=org["headers"])
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


@pytest.mark.parametrize("method", ["delete", "patch"])
def test_an_id_past_a_bigint_is_a_404_whatever_the_method(client, org, method):
    response = getattr(client, method)(f"/v1/api-keys/{TOO_BIG}", json={}, headers=org["headers"])
    assert response.status_code == 404  # not the 405 werkzeug says when the converter refuses the id
    assert client.put("/v1/api-keys", json={}, headers=org["headers"]).status_code == 405  # a real 405 stays


def test_a_lead_id_filter_past_a_bigint_is_a_400_naming_it(client, org):
    response = client.get(f"/v1/signals?lead_id={TOO_BIG}", headers=org["headers"])
    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == ["lead_id"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/api-keys", {"name": "k", "endpoint_type": "flow", "expires_at": "9999-12-31T23:30:00-01:00"}),
        ("get", "/v1/activities?since=0001-01-01T00:30:00%2B01:00", None),
        ("get", "/v1/activities?until=9999-12-31T23:30:00-01:00", None),
    ],
)
def test_a_time_that_leaves_years_1_to_9999_in_utc_is_a_400(client, org, method, path, body):
    response = getattr(client, method)(path, json=body, headers=org["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "validation_failed"


@pytest.mark.parametrize("limit", [2**31, 2**63])
def test_a_plan_limit_past_the_column_is_a_400_naming_it(client, org, limit):
    body = {"raw_signals_per_month": limit, "signals_per_second": None, "overages_enabled": False}
    response = client.put("/v1/rate-limits", json=body, headers=org["headers"])
    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == ["raw_signals_per_month"]


def test_an_apply_job_id_with_control_characters_is_a_404(client, org):
    rule = client.post("/v1/mapping-rules", json={"name": "r", "signal_name": "R"}, headers=org["headers"]).get_json()
    response = client.get(f"/v1/mapping-rules/{rule['id']}/apply/abc%1Ddef", headers=org["headers"])
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_a_web_process_without_redis_url_answers_503_naming_it(config, org, signal_key):
    """A web process started without REDIS_URL (a deployment that forgot it) cannot queue anything: each request
    gets a 503 that names the setting, never a 500; liveness, readiness, metrics and the API document still
    answer."""
    from app import create_app

    queueless = create_app(Config(**{**config.__dict__, "redis_url": ""})).test_client()
    for response in (
        queueless.post(f"/api/signal-staging/webhook/{signal_key}", json={"email": "a@example.com", "event": "x"}),
        queueless.get("/v1/signals", headers=org["headers"]),
        queueless.post("/v1/dead-letters/dl_1/retry", headers=org["headers"]),
    ):
        body = assert_error(response, 503, "service_unavailable")
        assert "REDIS_URL" in body["message"]
        assert response.headers["Retry-After"]
    page = queueless.get("/dashboard/login")  # the dashboard's own error page, for a person
    assert page.status_code == 503 and b"REDIS_URL" in page.data
    assert queueless.get("/healthz").status_code == 200
    ready = queueless.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["redis"] != "ok"
    assert queueless.get("/metrics").status_code == 200
    assert queueless.get("/openapi.json").status_code == 200
    assert queueless.get("/no/such/page").status_code == 404  # nothing there is still a 404
