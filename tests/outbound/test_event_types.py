"""Event types are the organization's: created, listed, read, changed and archived through the API, and
what publishing and subscribing are checked against, through to a real receiver."""

import json

import pytest

from tests.helpers import create_webhook, publish_event

USER_ROTATED = {
    "type": "object",
    "required": ["user"],
    "properties": {
        "user": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string", "pattern": "^usr_"}, "tags": {"type": "array", "items": {}}},
        }
    },
}


def create_type(client, org, name="user.rotated", **body):
    response = client.post("/v1/event-types", json={"name": name, **body}, headers=org["headers"])
    assert response.status_code == 201, response.data
    return response.get_json()


def publish(client, org, event_type, data):
    return client.post("/v1/events", json={"type": event_type, "data": data}, headers=org["headers"])


def all_names(client, org, query=""):
    response = client.get(f"/v1/event-types?limit=500{query}", headers=org["headers"])
    assert response.status_code == 200, response.data
    return [each["name"] for each in response.get_json()["event_types"]]


def test_a_new_organization_starts_with_the_samples_and_hookyards_own(client, org):
    listed = client.get("/v1/event-types?limit=500", headers=org["headers"]).get_json()
    kinds = {each["name"]: each["kind"] for each in listed["event_types"]}
    assert kinds["user.created"] == kinds["payment.failed"] == "sample"
    assert (
        kinds["signal.received"] == kinds["lead.identified"] == kinds["flow.*"] == kinds["webhook.test"] == "hookyard"
    )
    assert kinds["delivery.exhausted"] == kinds["flow.rate_limited"] == "hookyard"  # operational events
    assert len(kinds) == 23
    assert listed["next_cursor"] is None
    assert list(kinds) == sorted(kinds)


def test_an_event_type_is_created_read_and_listed(client, org):
    created = create_type(client, org, description="A user's key was rotated.", schema=USER_ROTATED)
    assert created["name"] == "user.rotated"
    assert created["description"] == "A user's key was rotated."
    assert created["schema"] == USER_ROTATED
    assert created["archived"] is False
    assert created["kind"] == "custom"
    assert created["created_at"].endswith("Z")
    shown = client.get("/v1/event-types/user.rotated", headers=org["headers"]).get_json()
    assert shown == created
    assert "user.rotated" in all_names(client, org)
    builtin = client.get("/v1/event-types/flow.push", headers=org["headers"]).get_json()
    assert (builtin["kind"], builtin["schema"], builtin["created_at"]) == ("hookyard", None, None)


def test_the_list_pages_by_name_across_built_in_and_own_types(client, org):
    for name in ("aaa.first", "user.a_b", "user.rotated", "user_x.made", "zzz.last"):
        create_type(client, org, name)
    seen, cursor = [], None
    while True:
        query = "?limit=5" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v1/event-types{query}", headers=org["headers"]).get_json()
        assert len(page["event_types"]) <= 5
        seen += [each["name"] for each in page["event_types"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) == all_names(client, org)
    assert len(seen) == 28
    assert client.get("/v1/event-types?cursor=bm9wZQ", headers=org["headers"]).status_code == 400


def test_a_duplicate_name_is_a_409_built_in_ones_too(client, org):
    create_type(client, org)
    for name in ("user.rotated", "user.created", "signal.received", "flow.push"):
        response = client.post("/v1/event-types", json={"name": name}, headers=org["headers"])
        assert response.status_code == 409, name
        assert response.get_json()["error"] == "event_type_exists"


@pytest.mark.parametrize(
    "name",
    ["User.Created", "user.*", "*", "user..rotated", ".user", "user.", "user rotated", "", "a" * 256, "signal.custom"],
)
def test_a_bad_or_reserved_name_is_a_400_naming_it(client, org, name):
    response = client.post("/v1/event-types", json={"name": name}, headers=org["headers"])
    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == ["name"]


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"type": "strin"}, "schema.type"),
        ({"properties": {"id": {"pattern": "("}}}, "schema.properties.id.pattern"),
        ({"$ref": "#/$defs/missing"}, "schema"),
        ({"$ref": "https://example.com/remote.json"}, "schema"),
        ({"properties": {"a": {"$ref": "#"}}, "$ref": "#/properties/a"}, "schema"),
        ({"$schema": "https://example.com/my-dialect"}, "schema.$schema"),
        ({"description": "x" * 70_000}, "schema"),
        ("not an object", "schema"),
    ],
)
def test_a_schema_that_is_no_json_schema_is_a_400_naming_where(client, org, schema, field):
    response = client.post("/v1/event-types", json={"name": "user.rotated", "schema": schema}, headers=org["headers"])
    assert response.status_code == 400, response.data
    assert list(response.get_json()["errors"]) == [field]
    assert client.get("/v1/event-types/user.rotated", headers=org["headers"]).status_code == 404


def test_a_type_is_changed_and_archived_but_never_renamed(client, org):
    create_type(client, org, description="old")
    url = "/v1/event-types/user.rotated"
    changed = client.patch(url, json={"description": "new", "schema": USER_ROTATED}, headers=org["headers"])
    assert changed.status_code == 200
    assert (changed.get_json()["description"], changed.get_json()["schema"]) == ("new", USER_ROTATED)
    assert client.patch(url, json={"schema": None}, headers=org["headers"]).get_json()["schema"] is None
    renamed = client.patch(url, json={"name": "user.turned"}, headers=org["headers"])
    assert renamed.status_code == 400
    assert list(renamed.get_json()["errors"]) == ["name"]
    assert client.patch(url, json={"name": "user.rotated"}, headers=org["headers"]).status_code == 200
    bad_schema = client.patch(url, json={"schema": {"type": 5}}, headers=org["headers"])
    assert bad_schema.status_code == 400
    archived = client.patch(url, json={"archived": True}, headers=org["headers"]).get_json()
    assert archived["archived"] is True
    assert "user.rotated" not in all_names(client, org)
    assert "user.rotated" in all_names(client, org, "&include_archived=true")
    assert client.get(url, headers=org["headers"]).get_json()["archived"] is True


def test_a_sample_type_may_be_changed_and_archived_hookyards_own_may_not(client, org):
    archived = client.patch("/v1/event-types/user.created", json={"archived": True}, headers=org["headers"])
    assert archived.status_code == 200
    assert (archived.get_json()["kind"], archived.get_json()["archived"]) == ("sample", True)
    assert archived.get_json()["description"] == "A user was created."
    assert "user.created" not in all_names(client, org)
    assert all_names(client, org, "&include_archived=true").count("user.created") == 1
    for name in ("signal.received", "flow.*", "flow.push", "webhook.test"):
        response = client.patch(f"/v1/event-types/{name}", json={"archived": True}, headers=org["headers"])
        assert response.status_code == 400, name
        assert response.get_json()["error"] == "read_only_event_type"
    assert client.get("/v1/event-types/signal.received", headers=org["headers"]).get_json()["archived"] is False


def test_publishing_an_unknown_type_is_a_400_naming_it(client, org):
    response = publish(client, org, "user.rotated", {"id": 1})
    assert response.status_code == 400
    body = response.get_json()
    assert "user.rotated" in body["message"]
    assert "user.rotated" in body["errors"]["type"][0]
    assert publish(client, org, "user.*", {}).status_code == 400
    assert publish(client, org, "flow.*", {}).status_code == 400


def test_publishing_an_archived_type_is_a_400_naming_it(client, org):
    create_type(client, org, archived=True)
    client.patch("/v1/event-types/user.created", json={"archived": True}, headers=org["headers"])
    for name in ("user.rotated", "user.created"):
        response = publish(client, org, name, {"id": 1})
        assert response.status_code == 400, name
        assert "archived" in response.get_json()["errors"]["type"][0]
    client.patch("/v1/event-types/user.rotated", json={"archived": False}, headers=org["headers"])
    assert publish(client, org, "user.rotated", {"id": 1}).status_code == 202


def test_data_that_fails_the_schema_is_a_400_naming_each_path(client, org):
    create_type(client, org, schema=USER_ROTATED)
    response = publish(client, org, "user.rotated", {"user": {"id": 42, "tags": "x"}})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert "user.rotated" in body["message"]
    assert body["errors"] == {
        "data.user.id": ["42 is not of type 'string'"],
        "data.user.tags": ["'x' is not of type 'array'"],
    }
    missing = publish(client, org, "user.rotated", {}).get_json()["errors"]
    assert missing == {"data": ["'user' is a required property"]}
    pattern = publish(client, org, "user.rotated", {"user": {"id": "u_1"}}).get_json()["errors"]
    assert list(pattern) == ["data.user.id"]


def test_a_sample_type_given_a_schema_checks_its_data(client, org):
    client.patch(
        "/v1/event-types/payment.succeeded",
        json={"schema": {"type": "object", "required": ["amount"]}},
        headers=org["headers"],
    )
    assert publish(client, org, "payment.succeeded", {"currency": "usd"}).status_code == 400
    assert publish(client, org, "payment.succeeded", {"amount": 1}).status_code == 202


def test_a_custom_type_is_delivered_to_its_subscribers_exact_and_wildcard(client, org, receiver, run_jobs):
    create_type(client, org, schema=USER_ROTATED)
    create_webhook(client, org, receiver, "/exact", events=["user.rotated"])
    create_webhook(client, org, receiver, "/wildcard", events=["user.*"])
    create_webhook(client, org, receiver, "/other", events=["payment.*"])
    event = publish_event(client, org, "user.rotated", {"user": {"id": "usr_1"}})
    run_jobs()
    for path in ("/exact", "/wildcard"):
        (request,) = receiver.received(path)
        assert json.loads(request["body"])["id"] == event["id"]
        assert json.loads(request["body"])["data"] == {"user": {"id": "usr_1"}}
    assert receiver.received("/other") == []


def test_subscriptions_are_checked_against_the_organizations_catalogue(client, org, receiver):
    def subscribe(events):
        return client.post("/v1/webhooks", json={"url": receiver.url(), "events": events}, headers=org["headers"])

    assert subscribe(["user.rotated"]).status_code == 400
    assert subscribe(["invoice.*"]).status_code == 400
    create_type(client, org)
    create_type(client, org, "invoice.paid")
    assert subscribe(["user.rotated", "invoice.*", "flow.payment_intent.*"]).status_code == 201
    client.patch("/v1/event-types/invoice.paid", json={"archived": True}, headers=org["headers"])
    refused = subscribe(["invoice.paid", "invoice.*"])
    assert refused.status_code == 400
    assert len(refused.get_json()["errors"]["events"]) == 2


def test_an_archived_type_keeps_its_existing_subscriptions(client, org, receiver):
    create_type(client, org)
    hook = create_webhook(client, org, receiver, events=["user.rotated"])
    client.patch("/v1/event-types/user.rotated", json={"archived": True}, headers=org["headers"])
    url = f"/v1/webhooks/{hook['id']}"
    kept = client.patch(url, json={"events": ["user.rotated", "user.created"]}, headers=org["headers"])
    assert kept.status_code == 200
    assert kept.get_json()["events"] == ["user.rotated", "user.created"]
    client.patch("/v1/event-types/user.created", json={"archived": True}, headers=org["headers"])
    assert client.patch(url, json={"events": ["user.updated"]}, headers=org["headers"]).status_code == 200
    assert client.patch(url, json={"events": ["user.created"]}, headers=org["headers"]).status_code == 400


def test_another_organizations_types_are_unknown(client, org, other_org, receiver):
    create_type(client, org, schema=USER_ROTATED)
    client.patch("/v1/event-types/user.created", json={"archived": True}, headers=org["headers"])
    headers = other_org["headers"]
    assert client.get("/v1/event-types/user.rotated", headers=headers).status_code == 404
    assert client.patch("/v1/event-types/user.rotated", json={"archived": True}, headers=headers).status_code == 404
    assert "user.rotated" not in all_names(client, other_org, "&include_archived=true")
    assert publish(client, other_org, "user.rotated", {"user": {"id": "usr_1"}}).status_code == 400
    assert client.get("/v1/event-types/user.created", headers=headers).get_json()["archived"] is False
    assert publish(client, other_org, "user.created", {"id": 1}).status_code == 202
    create_type(client, other_org, schema={"type": "object", "required": ["other"]})
    assert publish(client, org, "user.rotated", {"user": {"id": "usr_1"}}).status_code == 202
