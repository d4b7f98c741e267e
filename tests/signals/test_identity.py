"""Who sent a signal: emails, anonymous ids in cold storage, identify and alias calls tying them to one lead."""

import json

import pytest

from tests.helpers import SIGNAL_WEBHOOK, payload, post_signal


def test_email_is_found_in_traits_context_traits_and_properties(client, org, signal_key, run_jobs):
    bodies = [
        {"traits": {"email": "a@x.io"}},
        {"context": {"traits": {"email": "b@x.io"}}},
        {"properties": {"email": "c@x.io"}},
    ]
    ids = [post_signal(client, signal_key, body).get_json()["id"] for body in bodies]
    run_jobs()
    emails = [client.get(f"/v1/signals/{i}", headers=org["headers"]).get_json()["email"] for i in ids]
    assert emails == ["a@x.io", "b@x.io", "c@x.io"]


def test_an_anonymous_signal_goes_to_cold_storage(client, org, signal_key, run_jobs):
    answer = post_signal(client, signal_key, {"anonymousId": "anon-1", "event": "Pricing Page Viewed"}).get_json()
    assert answer["cold_storage"] is True
    run_jobs()
    signal = client.get(f"/v1/signals/{answer['id']}", headers=org["headers"]).get_json()
    assert signal["cold_storage"] is True
    assert signal["lead_id"] is None
    assert signal["anonymous_id"] == "anon-1"


def test_identify_creates_the_lead_with_its_traits_and_links_its_ids(client, org, signal_key, run_jobs):
    identify = payload("segment_identify.json")
    post_signal(client, signal_key, identify)
    run_jobs()
    leads = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"]
    assert len(leads) == 1
    lead = leads[0]
    assert lead["name"] == "Peter Gibbons"
    assert lead["traits"] == identify["traits"]
    assert lead["anonymous_ids"] == [identify["anonymousId"]]
    assert lead["signal_count"] == 1


def test_identify_fills_company_and_title(client, org, signal_key, run_jobs):
    body = {**payload("segment_identify_spec.json")}
    body["traits"] = {**body["traits"], "company": {"name": "Initech"}, "title": "Engineer"}
    post_signal(client, signal_key, body)
    run_jobs()
    lead = client.get(f"/v1/leads?email={body['traits']['email']}", headers=org["headers"]).get_json()["leads"][0]
    assert (lead["company"], lead["title"]) == ("Initech", "Engineer")


def test_track_before_identify_is_rehydrated_onto_the_lead(client, org, signal_key, run_jobs):
    track = {**payload("segment_track.json"), "userId": None}  # anonymous: only the anonymousId
    cold = post_signal(client, signal_key, track).get_json()
    assert cold["cold_storage"] is True
    run_jobs()
    assert client.get(f"/v1/signals/{cold['id']}", headers=org["headers"]).get_json()["cold_storage"] is True
    post_signal(client, signal_key, payload("segment_identify.json"))
    run_jobs()
    signal = client.get(f"/v1/signals/{cold['id']}", headers=org["headers"]).get_json()
    lead = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"][0]
    assert signal["cold_storage"] is False
    assert signal["lead_id"] == lead["id"]
    assert lead["signal_count"] == 2


def test_track_and_identify_in_one_batch_end_attributed_in_either_order(client, org, signal_key, run_jobs):
    identify, track = payload("segment_identify.json"), {**payload("segment_track.json"), "userId": None}
    for order in ([track, identify], [identify, {**track, "messageId": "second-track"}]):
        client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=order)
        run_jobs()
    signals = client.get(
        "/v1/signals?anonymous_id=3d316d2c-26e8-451f-91be-a0766708c81e", headers=org["headers"]
    ).get_json()["signals"]
    assert {s["status"] for s in signals} == {"processed", "duplicate"}
    assert all(s["cold_storage"] is False for s in signals if s["status"] == "processed")
    lead = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"][0]
    assert lead["signal_count"] == 3  # identify, the first track, the second track


def test_a_signal_for_an_identified_visitor_is_warm_at_receipt(client, org, signal_key, run_jobs):
    post_signal(client, signal_key, payload("segment_identify.json"))
    run_jobs()
    page = {**payload("segment_page.json"), "userId": None}
    answer = post_signal(client, signal_key, page).get_json()
    assert answer["cold_storage"] is False
    run_jobs()
    assert client.get(f"/v1/signals/{answer['id']}", headers=org["headers"]).get_json()["lead_id"] is not None


ALIAS_NEW_ID = "507f191e81"  # segment_alias.json: previousId 97980cfea0067 (Peter's userId) -> userId 507f191e81


def _signed_in_track(message_id):
    """A track after the alias: only the new userId, no anonymousId."""
    return {**payload("segment_track.json"), "anonymousId": None, "userId": ALIAS_NEW_ID, "messageId": message_id}


@pytest.mark.parametrize(
    "order",
    [
        ("identify", "alias", "track"),
        ("track", "alias", "identify"),
        ("alias", "track", "identify"),
        ("track", "identify", "alias"),
    ],
)
def test_an_alias_ties_the_new_user_id_to_the_lead_in_any_order(client, org, signal_key, run_jobs, order):
    bodies = {
        "identify": payload("segment_identify.json"),
        "alias": payload("segment_alias.json"),
        "track": _signed_in_track("after-alias"),
    }
    ids = {}
    for name in order:
        ids[name] = post_signal(client, signal_key, bodies[name]).get_json()["id"]
        run_jobs()
    lead = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"][0]
    track = client.get(f"/v1/signals/{ids['track']}", headers=org["headers"]).get_json()
    assert track["lead_id"] == lead["id"]
    assert track["cold_storage"] is False
    alias = client.get(f"/v1/signals/{ids['alias']}", headers=org["headers"]).get_json()
    assert alias["lead_id"] == lead["id"]
    assert lead["signal_count"] == 3
    # Linked now: the next signal from the new id is attributed at receipt.
    assert post_signal(client, signal_key, _signed_in_track("later")).get_json()["cold_storage"] is False


def test_an_alias_chain_is_followed_to_the_lead(client, org, signal_key, run_jobs):
    base = payload("segment_alias.json")
    hops = [("97980cfea0067", "u-2"), ("u-2", "u-3"), ("u-3", "u-4")]
    for n, (previous_id, user_id) in enumerate(hops):
        post_signal(client, signal_key, {**base, "previousId": previous_id, "userId": user_id, "messageId": f"a{n}"})
    track = post_signal(client, signal_key, {**_signed_in_track("t"), "userId": "u-4"}).get_json()
    run_jobs()
    assert client.get(f"/v1/signals/{track['id']}", headers=org["headers"]).get_json()["cold_storage"] is True
    post_signal(client, signal_key, payload("segment_identify.json"))
    run_jobs()
    lead = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"][0]
    assert client.get(f"/v1/signals/{track['id']}", headers=org["headers"]).get_json()["lead_id"] == lead["id"]


def test_an_alias_and_its_identify_stored_at_the_same_moment_still_meet(
    app, client, org, signal_key, store_together, job_context
):
    """An alias and its identify stored by two workers at the same moment: whichever commits last (or
    both, if neither saw the other's row) links the new id after commit."""
    import orjson

    from hookyard.signals.jobs import store_claim

    track = post_signal(client, signal_key, _signed_in_track("cold")).get_json()
    store_claim(job_context, [app.redis.lpop(store_together.keys.buffer)])  # the track, cold
    store_together(
        [
            orjson.dumps(
                {"id": 8_000_000 + n, "org": org["id"], "src": "segment", "at": 1_700_000_000_000, "p": payload(name)}
            )
            for n, name in enumerate(("segment_alias.json", "segment_identify.json"))
        ]
    )
    lead = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"][0]
    assert client.get(f"/v1/signals/{track['id']}", headers=org["headers"]).get_json()["lead_id"] == lead["id"]


def test_an_alias_publishes_lead_identified_for_the_ids_it_links(client, org, signal_key, run_jobs, receiver):
    client.post("/v1/webhooks", json={"url": receiver.url(), "events": ["lead.identified"]}, headers=org["headers"])
    post_signal(client, signal_key, payload("segment_identify.json"))
    run_jobs()
    post_signal(client, signal_key, payload("segment_alias.json"))
    run_jobs()
    lead = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"][0]
    identified = [json.loads(request["body"])["data"] for request in receiver.received()]
    assert {"lead_id": lead["id"], "user_id": ALIAS_NEW_ID} in identified


def test_aliases_stored_in_one_claim_link_the_whole_chain(client, org, signal_key, run_jobs):
    post_signal(client, signal_key, payload("segment_identify.json"))  # userId 97980cfea0067 -> Peter
    run_jobs()
    base = payload("segment_alias.json")
    chain = [
        {**base, "previousId": "u-1", "userId": "u-2", "messageId": "c1"},
        {**base, "previousId": "u-2", "userId": "97980cfea0067", "messageId": "c2"},
    ]
    assert client.post(f"{SIGNAL_WEBHOOK}/{signal_key}/batch", json=chain).status_code == 202
    run_jobs()
    track = post_signal(client, signal_key, {**_signed_in_track("from-u-1"), "userId": "u-1"}).get_json()
    assert track["cold_storage"] is False  # u-1 is two aliases away from the identified id
    run_jobs()
    lead = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"][0]
    assert client.get(f"/v1/signals/{track['id']}", headers=org["headers"]).get_json()["lead_id"] == lead["id"]


def test_after_commit_work_lost_to_a_failure_is_done_by_the_retry(client, org, signal_key, run_jobs, monkeypatch):
    from hookyard.signals import jobs as signal_jobs

    cold = post_signal(client, signal_key, {**payload("segment_track.json"), "userId": None}).get_json()
    run_jobs()
    real, calls = signal_jobs.settle, []

    def fails_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away between commit and rehydration")
        return real(*args)

    monkeypatch.setattr(signal_jobs, "settle", fails_once)
    post_signal(client, signal_key, payload("segment_identify.json"))
    run_jobs()  # the first run stores the identify, then fails; RQ's retry finds it stored and settles it
    assert len(calls) == 2
    lead = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"][0]
    assert client.get(f"/v1/signals/{cold['id']}", headers=org["headers"]).get_json()["lead_id"] == lead["id"]


def test_an_alias_group_past_sqlites_variable_limit_is_linked(
    app, config, client, org, signal_key, run_jobs, monkeypatch
):
    """SQLite builds differ in how many bound variables one statement may hold (32,766 by default;
    Debian's allows 250,000): this lowers it to 10,000 so 6,000 ids in one IN query would fail."""
    import sqlite3

    if not config.database_url.startswith("sqlite"):
        pytest.skip("a SQLite limit")
    database_class = type(app.database)
    connect_hooks = database_class._add_conn_hooks

    def limited(self, conn):
        connect_hooks(self, conn)
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 10_000)

    monkeypatch.setattr(database_class, "_add_conn_hooks", limited)
    app.database.close()  # the next connection gets the limit
    base = payload("segment_alias.json")
    hub = "97980cfea0067"  # Peter's userId, once identified
    aliases = [{**base, "previousId": f"device-{n}", "userId": hub, "messageId": f"hub-{n}"} for n in range(6_000)]
    assert client.post(f"/api/signal-staging/bulk/{signal_key}", json={"signals": aliases}).status_code == 202
    run_jobs()
    post_signal(client, signal_key, payload("segment_identify.json"))
    run_jobs()
    lead = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"][0]
    for n in (0, 4_321, 5_999):
        track = post_signal(client, signal_key, {**_signed_in_track(f"late-{n}"), "userId": f"device-{n}"}).get_json()
        assert track["cold_storage"] is False, n
    assert lead["signal_count"] == 6_001  # every alias call, rehydrated onto the lead, and the identify
