"""A NUL character is refused at intake, naming the field, on every ingress: Postgres cannot store one in
text, so a 202 for it used to end in the dead letter. Each test runs on SQLite and on Postgres."""

import pytest

from tests.helpers import CUSTOM_EVENT, SIGNAL_BULK, SIGNAL_WEBHOOK, payload, post_signal, post_to_flow

NUL = "\u0000"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event": f"ev{NUL}nt"}, "event"),
        ({"anonymousId": f"anon{NUL}"}, "anonymousId"),
        ({"userId": f"{NUL}user"}, "userId"),
        ({"messageId": f"m{NUL}1"}, "messageId"),
        ({"traits": {"email": f"a{NUL}@example.com"}}, "traits.email"),
        ({"context": {"traits": {"name": f"Ann{NUL}"}}}, "context.traits.name"),
        ({"properties": {"plan": {"tier": f"pro{NUL}"}}}, "properties.plan.tier"),
        ({"properties": {f"k{NUL}y": 1}}, "properties.k\\u0000y"),
    ],
)
def test_a_signal_holding_a_nul_is_a_400_naming_the_field(client, signal_key, change, field):
    response = post_signal(client, signal_key, {"email": "e@example.com", **change})
    assert response.status_code == 400
    assert response.get_json()["errors"] == {field: ["Must not contain the NUL character (\\u0000)."]}


def test_the_issues_example_is_refused_and_the_same_signal_without_the_nul_is_stored(client, org, signal_key, run_jobs):
    refused = post_signal(client, signal_key, {"event": f"ev{NUL}nt", "email": "e@example.com"})
    assert refused.status_code == 400
    accepted = post_signal(client, signal_key, {"event": "event", "email": "e@example.com"})
    assert accepted.status_code == 202
    run_jobs()
    assert client.get(f"/v1/signals/{accepted.get_json()['id']}", headers=org["headers"]).status_code == 200


def test_an_alias_whose_previous_id_holds_a_nul_is_refused(client, signal_key):
    alias = {**payload("segment_alias.json"), "previousId": f"prev{NUL}"}
    response = post_signal(client, signal_key, alias)
    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == ["previousId"]


def test_a_literal_backslash_u0000_is_text_not_a_nul_and_is_stored(client, org, signal_key, run_jobs):
    accepted = post_signal(client, signal_key, {"event": "\\u0000", "email": "e@example.com"})
    assert accepted.status_code == 202
    run_jobs()
    stored = client.get(f"/v1/signals/{accepted.get_json()['id']}", headers=org["headers"]).get_json()
    assert stored["event"] == "\\u0000"


def test_a_batch_rejects_the_item_holding_a_nul_and_stores_the_rest(client, org, signal_key, run_jobs):
    items = [{"email": f"u{n}@example.com", "event": "Tick"} for n in range(3)]
    items[1]["event"] = f"Ti{NUL}ck"
    answer = client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=items).get_json()
    assert answer["accepted"] == 2
    assert answer["signals"][1]["error"]["errors"] == {"event": ["Must not contain the NUL character (\\u0000)."]}
    run_jobs()
    stored = client.get("/v1/signals", headers=org["headers"]).get_json()["signals"]
    assert sorted(signal["email"] for signal in stored) == ["u0@example.com", "u2@example.com"]


def test_a_bulk_import_rejects_the_row_holding_a_nul_and_stores_the_rest(client, org, signal_key, run_jobs):
    rows = [{"email": f"u{n}@example.com", "event": "Imported"} for n in range(3)]
    rows[2]["userId"] = f"u{NUL}"
    answer = client.post(f"{SIGNAL_BULK}/{signal_key}", json={"signals": rows}).get_json()
    assert answer["accepted"] == 2
    assert answer["rejected"] == 1
    assert answer["signals"][0]["index"] == 2
    run_jobs()
    imported = client.get(f"/v1/imports/{answer['import_id']}", headers=org["headers"]).get_json()
    assert imported["status"] == "done"
    assert imported["processed"] == 2


def test_a_flow_event_whose_timestamp_holds_a_nul_is_a_400(client, org, make_flow, flow_key, run_jobs):
    flow = make_flow()
    response = post_to_flow(client, flow, {**CUSTOM_EVENT, "timestamp": f"2026{NUL}"}, **{"X-API-Key": flow_key})
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"timestamp": ["Must not contain the NUL character (\\u0000)."]}
    run_jobs()
    assert client.get(f"/v1/flows/{flow['id']}/events", headers=org["headers"]).get_json()["events"] == []
