"""The OpenAPI document is valid (openapi-spec-validator) and says what each route reads and answers."""

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


def test_the_document_is_a_valid_openapi_3_document(spec):
    errors = [error.message for error in OpenAPIV30SpecValidator(spec).iter_errors()]
    assert errors == []


def test_every_operation_has_an_id_of_its_own(spec):
    ids = [op["operationId"] for operations in spec["paths"].values() for op in operations.values()]
    assert len(ids) == len(set(ids))
    assert spec["paths"]["/api/signal-staging/webhook/{api_key}"]["post"]["operationId"] == (
        "signal_staging.receive_signal"
    )


def test_integer_path_parameters_are_integers(spec):
    (lead_id,) = spec["paths"]["/v1/leads/{lead_id}"]["get"]["parameters"]
    assert lead_id["schema"]["type"] == "integer"
    (api_key,) = [p for p in spec["paths"]["/api/signal-staging/webhook/{api_key}"]["post"]["parameters"]
                  if p["in"] == "path"]  # fmt: skip
    assert api_key["schema"]["type"] == "string"


def header_names(operation) -> set[str]:
    return {p["name"] for p in operation["parameters"] if p["in"] == "header"}


@pytest.mark.parametrize(
    ("path", "method", "headers"),
    [
        ("/api/signal-staging/webhook/{api_key}", "post", {"X-Api-Secret", "X-Signature", "X-Source"}),
        ("/api/signal-staging/webhook/{api_key}/batch", "put", {"X-Api-Secret", "X-Signature", "X-Source"}),
        ("/api/signal-staging/bulk/{api_key}", "post", {"X-Api-Secret", "X-Signature", "X-Source"}),
        (
            "/webhooks/{webhook_id}",
            "post",
            {
                "X-API-Key",
                "X-Api-Secret",
                "X-Event-Signature",
                "Stripe-Signature",
                "X-Hub-Signature-256",
                "X-GitHub-Event",
                "X-GitHub-Delivery",
                "Idempotency-Key",
            },
        ),
        ("/segment/v1/batch", "post", {"Content-Encoding"}),
    ],
)
def test_the_headers_a_route_reads_are_documented(spec, path, method, headers):
    assert header_names(spec["paths"][path][method]) == headers


@pytest.mark.parametrize(
    "path",
    [
        "/api/signal-staging/webhook/{api_key}",
        "/api/signal-staging/webhook/{api_key}/batch",
        "/api/signal-staging/bulk/{api_key}",
        "/webhooks/ingress/{token}",
        "/webhooks/{webhook_id}",
        "/segment/v1/batch",
        "/segment/v1/track",
    ],
)
def test_ingress_routes_document_their_body_and_every_refusal(spec, path):
    operation = spec["paths"][path]["post"]
    assert "application/json" in operation["requestBody"]["content"]
    assert {"400", "413", "415", "503"} <= set(operation["responses"])


def test_lists_document_limit_cursor_and_their_400(spec):
    operation = spec["paths"]["/v1/signals"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"limit", "cursor", "status", "lead_id"} <= names
    assert "400" in operation["responses"]
