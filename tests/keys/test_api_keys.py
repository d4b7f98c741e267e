"""API keys: created with the key and secret shown once, listed by prefix, updated, deleted, isolated."""

import datetime

import pytest

from models import ApiKey


def create_key(client, org, **overrides):
    body = {"name": "Website", "endpoint_type": "signal_staging", **overrides}
    return client.post("/v1/api-keys", json=body, headers=org["headers"])


def test_create_shows_key_and_secret_once(client, org):
    response = create_key(client, org, secret=True)
    assert response.status_code == 201
    body = response.get_json()
    assert body["key"].startswith("hy_live_")
    assert len(body["key"]) >= 8 + 32
    assert body["secret"].startswith("hy_secret_")
    assert body["endpoint_type"] == "signal_staging"
    assert body["active"] is True
    assert body["has_secret"] is True
    assert body["created_at"].endswith("Z")
    assert body["expires_at"] is None

    listed = client.get("/v1/api-keys", headers=org["headers"]).get_json()["api_keys"]
    assert [k["id"] for k in listed] == [body["id"]]
    assert "key" not in listed[0]
    assert "secret" not in listed[0]
    assert body["key"].startswith(listed[0]["key_prefix"])
    shown = client.get(f"/v1/api-keys/{body['id']}", headers=org["headers"]).get_json()
    assert "key" not in shown
    assert "secret" not in shown


def test_keys_and_secrets_are_stored_only_as_hashes(client, org):
    body = create_key(client, org, secret=True).get_json()
    row = ApiKey.get_by_id(body["id"])
    stored = " ".join(str(value) for value in row.__data__.values())
    assert body["key"] not in stored
    assert body["secret"] not in stored
    assert len(row.key_hash) == 64


def test_create_without_secret_answers_null_secret(client, org):
    body = create_key(client, org, endpoint_type="flow").get_json()
    assert body["secret"] is None
    assert body["has_secret"] is False
    assert body["endpoint_type"] == "flow"


def test_create_names_every_bad_field(client, org):
    response = client.post(
        "/v1/api-keys", json={"endpoint_type": "sms", "expires_at": "yesterday", "colour": 1}, headers=org["headers"]
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert set(body["errors"]) == {"name", "endpoint_type", "expires_at", "colour"}


def test_expiry_in_the_past_is_refused(client, org):
    past = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)).isoformat()
    response = create_key(client, org, expires_at=past)
    assert response.status_code == 400
    assert "expires_at" in response.get_json()["errors"]


def test_update_renames_deactivates_and_sets_expiry(client, org):
    key_id = create_key(client, org).get_json()["id"]
    response = client.patch(
        f"/v1/api-keys/{key_id}",
        headers=org["headers"],
        json={"name": "Renamed", "active": False, "expires_at": "2099-01-01T00:00:00Z"},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["name"], body["active"], body["expires_at"]) == ("Renamed", False, "2099-01-01T00:00:00.000Z")
    assert client.get(f"/v1/api-keys/{key_id}", headers=org["headers"]).get_json()["active"] is False


def test_update_refuses_unknown_fields(client, org):
    key_id = create_key(client, org).get_json()["id"]
    response = client.patch(f"/v1/api-keys/{key_id}", json={"key": "mine"}, headers=org["headers"])
    assert response.status_code == 400
    assert "key" in response.get_json()["errors"]


def test_delete_removes_the_key(client, org):
    key_id = create_key(client, org).get_json()["id"]
    assert client.delete(f"/v1/api-keys/{key_id}", headers=org["headers"]).status_code == 204
    assert client.get(f"/v1/api-keys/{key_id}", headers=org["headers"]).status_code == 404
    assert client.delete(f"/v1/api-keys/{key_id}", headers=org["headers"]).status_code == 404


def test_another_organizations_key_is_not_found(client, org, other_org):
    key_id = create_key(client, org).get_json()["id"]
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"/v1/api-keys/{key_id}", headers=other_org["headers"], json={})
        assert response.status_code == 404, method
        assert response.get_json()["error"] == "not_found"
    assert client.get("/v1/api-keys", headers=other_org["headers"]).get_json()["api_keys"] == []


def test_management_api_needs_a_valid_bearer_key(client, org):
    assert client.get("/v1/api-keys").status_code == 401
    assert client.get("/v1/api-keys", headers={"Authorization": "Basic abc"}).status_code == 401
    response = client.get("/v1/api-keys", headers={"Authorization": "Bearer hy_mgmt_wrong"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_list_pages_with_an_opaque_cursor(client, org):
    ids = [create_key(client, org, name=f"k{i}").get_json()["id"] for i in range(3)]
    first = client.get("/v1/api-keys?limit=2", headers=org["headers"]).get_json()
    assert [k["id"] for k in first["api_keys"]] == ids[::-1][:2]
    assert first["next_cursor"]
    second = client.get(f"/v1/api-keys?limit=2&cursor={first['next_cursor']}", headers=org["headers"]).get_json()
    assert [k["id"] for k in second["api_keys"]] == ids[:1]
    assert second["next_cursor"] is None


def test_list_refuses_bad_limits_and_cursors(client, org):
    assert client.get("/v1/api-keys?limit=501", headers=org["headers"]).get_json()["errors"] == {
        "limit": ["Must be greater than or equal to 1 and less than or equal to 500."]
    }
    response = client.get("/v1/api-keys?cursor=nonsense", headers=org["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_cursor"


@pytest.mark.parametrize("value", ["false", 0, "no"])
def test_a_boolean_must_be_a_json_boolean(client, org, make_api_key, value):
    created = make_api_key()
    answer = client.patch(f"/v1/api-keys/{created['id']}", json={"active": value}, headers=org["headers"])
    assert answer.status_code == 400
    assert "active" in answer.get_json()["errors"]
    refused = client.post(
        "/v1/api-keys", json={"name": "x", "endpoint_type": "flow", "secret": value}, headers=org["headers"]
    )
    assert refused.status_code == 400
    assert "secret" in refused.get_json()["errors"]
