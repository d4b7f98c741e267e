"""Managing outbound webhooks: secrets shown once, event types and patterns, changes, refused addresses."""

import pytest

from tests.helpers import create_webhook


def test_a_webhook_gets_a_standard_webhooks_secret_shown_again_only_at_secret(client, org, receiver):
    hook = create_webhook(client, org, receiver, description="CRM")
    assert hook["id"].startswith("hook_")
    assert hook["secret"].startswith("whsec_")
    assert hook["events"] == ["*"]
    assert hook["active"] is True
    assert hook["created_at"].endswith("Z")
    shown = client.get(f"/v1/webhooks/{hook['id']}", headers=org["headers"]).get_json()
    assert "secret" not in shown
    assert shown["description"] == "CRM"
    secret = client.get(f"/v1/webhooks/{hook['id']}/secret", headers=org["headers"]).get_json()["secret"]
    assert secret == hook["secret"]
    assert [h["id"] for h in client.get("/v1/webhooks", headers=org["headers"]).get_json()["webhooks"]] == [hook["id"]]


def test_secrets_are_stored_encrypted(client, org, receiver):
    from models import Endpoint

    hook = create_webhook(client, org, receiver, secret="my-own-secret-123")
    assert hook["secret"] == "my-own-secret-123"
    assert "my-own-secret-123" not in Endpoint.get_by_id(hook["id"]).secret_encrypted


def test_unknown_event_types_and_bad_urls_are_400s_naming_the_field(client, org):
    response = client.post(
        "/v1/webhooks",
        json={"url": "ftp://example.com/x", "events": ["user.created", "nope", "bogus.*"]},
        headers=org["headers"],
    )
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert set(errors) == {"url", "events"}
    assert len(errors["events"]) == 2


def test_patterns_and_event_types_are_listed(client, org):
    names = {t["name"] for t in client.get("/v1/event-types", headers=org["headers"]).get_json()["event_types"]}
    assert {"user.created", "signal.received", "lead.identified", "webhook.test", "flow.*"} <= names
    for events in (["lead.*"], ["flow.*"], ["flow.push"], ["*"]):
        assert (
            client.post(
                "/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": events}, headers=org["headers"]
            ).status_code
            == 201
        )


def test_update_and_delete_a_webhook(client, org, receiver, other_org):
    hook = create_webhook(client, org, receiver)
    changed = client.patch(
        f"/v1/webhooks/{hook['id']}", json={"events": ["lead.*"], "active": False}, headers=org["headers"]
    ).get_json()
    assert changed["events"] == ["lead.*"]
    assert changed["active"] is False
    assert client.get(f"/v1/webhooks/{hook['id']}", headers=other_org["headers"]).status_code == 404
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=other_org["headers"]).status_code == 404
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=org["headers"]).status_code == 204
    assert client.get(f"/v1/webhooks/{hook['id']}", headers=org["headers"]).status_code == 404


def test_an_unknown_event_type_cannot_be_published(client, org):
    response = client.post("/v1/events", json={"type": "nope", "data": {}}, headers=org["headers"])
    assert response.status_code == 400
    assert "type" in response.get_json()["errors"]


SSRF_FORMS = [
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://[::ffff:7f00:1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://[64:ff9b::7f00:1]/",
    "http://224.0.0.1/",
    "http://100.64.0.1/",
    "http://10.1.2.3/",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://[2002:7f00:1::]/",
    "gopher://example.com/",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("url", SSRF_FORMS)
def test_private_and_metadata_addresses_are_refused_at_creation(strict_client, org, url):
    response = strict_client.post("/v1/webhooks", json={"url": url, "events": ["*"]}, headers=org["headers"])
    assert response.status_code == 400, url
    assert "url" in response.get_json()["errors"], url


def test_metadata_stays_refused_when_private_networks_are_allowed(client, org):
    response = client.post(
        "/v1/webhooks", json={"url": "http://169.254.169.254/", "events": ["*"]}, headers=org["headers"]
    )
    assert response.status_code == 400


def test_a_webhook_url_with_cr_lf_is_a_400_naming_the_url(client, org):
    body = {"url": "http://127.0.0.1:5950/ok\r\nX-Injected: 1", "events": ["*"]}
    response = client.post("/v1/webhooks", json=body, headers=org["headers"])
    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == ["url"]
