"""Operations: liveness, readiness naming what is down, Prometheus metrics, the generated OpenAPI document."""

import re

from hookyard.core.config import Config


def test_healthz_answers_while_the_process_is_up(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_is_200_when_redis_and_database_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"redis": "ok", "database": "ok", "encryption_key": "ok"}


def test_without_an_encryption_key_readyz_says_so_and_secrets_are_a_503_not_a_500(app, config, org):
    from app import create_app

    keyless = create_app(Config(**{**config.__dict__, "encryption_key": ""})).test_client()
    ready = keyless.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["encryption_key"].startswith("down")
    assert "encryption_key" in ready.get_json()["message"]
    for path, body in (
        ("/v1/flows", {"name": "x", "github_secret": "a-long-secret"}),
        ("/v1/webhooks", {"url": "https://example.com/hook", "events": ["*"]}),
    ):
        response = keyless.post(path, json=body, headers=org["headers"])
        assert response.status_code == 503, (path, response.data)
        assert "HOOKYARD_ENCRYPTION_KEY" in response.get_json()["message"]


def test_readyz_names_redis_when_it_is_down(config, redis):
    from app import create_app

    down = create_app(Config(**{**config.__dict__, "redis_url": "redis://127.0.0.1:1/0"}))
    response = down.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    body = response.get_json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("down")
    assert body["error"] == "service_unavailable"
    assert "redis" in body["message"]


def test_readyz_names_the_database_when_it_is_down(config, redis):
    from app import create_app

    down = create_app(Config(**{**config.__dict__, "database_url": "postgresql://nobody@127.0.0.1:1/none"}))
    body = down.test_client().get("/readyz").get_json()
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["database"].startswith("down")
    assert "database" in body["message"]


def test_metrics_count_requests_by_route_and_status_and_show_queue_depths(client, app, org):
    client.get("/v1/api-keys", headers=org["headers"])
    client.get("/v1/api-keys")
    app.queues["default"].enqueue("tests.fixtures.succeed")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'hookyard_http_requests_total{endpoint="/v1/api-keys",method="GET",status="200"}' in text
    assert 'hookyard_http_requests_total{endpoint="/v1/api-keys",method="GET",status="401"}' in text
    assert 'hookyard_queue_depth{queue="default"} 1.0' in text
    assert "hookyard_http_request_duration_seconds_bucket" in text


def test_metrics_never_show_credentials_from_paths(client):
    client.post("/api/signal-staging/webhook/hy_live_secretsecret", json={})
    assert "hy_live_secretsecret" not in client.get("/metrics").get_data(as_text=True)


NOT_API = ("static", "home", "ops.prometheus_metrics", "ops.openapi_document", "reference.api_reference")


def test_openapi_documents_every_route_from_the_schemas(client, app):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method) for path, operations in spec["paths"].items() for method in operations}
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint
        not in ("static", "home", "ops.prometheus_metrics", "ops.openapi_document", "reference.api_reference")
        and not rule.endpoint.startswith("dashboard.")  # pages for people, not API
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes <= documented
    create = spec["paths"]["/v1/api-keys"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ApiKeyCreate"
    }
    assert set(spec["components"]["schemas"]["ApiKeyCreate"]["properties"]) == {
        "name",
        "endpoint_type",
        "secret",
        "expires_at",
    }
    assert "401" in create["responses"]
    assert "201" in create["responses"]
