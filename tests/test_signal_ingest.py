"""Signal staging ingestion through the real path: HTTP -> Redis -> worker -> database -> HTTP."""

import json

import pytest
from conftest import payload, payload_bytes

WEBHOOK = "/api/signal-staging/webhook"


def post_signal(client, key, body, path=None, **headers):
    return client.post(path or f"{WEBHOOK}/{key}", json=body, headers=headers)


def test_the_seed_curl_example_answers_exactly(client, signal_key):
    response = client.post(f"{WEBHOOK}/{signal_key}", data=b'{"email": "john@example.com", "event": "demo_requested",'
                           b' "properties": {"plan": "enterprise"}}', content_type="application/json")
    assert response.status_code == 202
    body = response.get_json()
    assert isinstance(body["id"], int)
    assert body == {"id": body["id"], "message": "Signal received and queued for processing", "source": "generic",
                    "cold_storage": False}


def test_a_signal_is_stored_and_tied_to_a_lead_by_email(client, org, signal_key, run_jobs):
    signal_id = post_signal(client, signal_key, {"email": "Ann@Example.com", "event": "Trial Started"}).get_json()["id"]
    assert client.get(f"/v1/signals/{signal_id}", headers=org["headers"]).status_code == 404  # not stored yet
    run_jobs()
    signal = client.get(f"/v1/signals/{signal_id}", headers=org["headers"]).get_json()
    assert signal["status"] == "processed" and signal["event"] == "Trial Started"
    assert signal["email"] == "ann@example.com" and signal["cold_storage"] is False
    assert signal["payload"] == {"email": "Ann@Example.com", "event": "Trial Started"}
    assert signal["received_at"].endswith("Z") and signal["processed_at"].endswith("Z")
    lead = client.get(f"/v1/leads/{signal['lead_id']}", headers=org["headers"]).get_json()
    assert lead["email"] == "ann@example.com" and lead["signal_count"] == 1
    assert lead["first_seen"] == lead["last_seen"] == signal["received_at"]


def test_email_is_found_in_traits_context_traits_and_properties(client, org, signal_key, run_jobs):
    bodies = [{"traits": {"email": "a@x.io"}}, {"context": {"traits": {"email": "b@x.io"}}},
              {"properties": {"email": "c@x.io"}}]
    ids = [post_signal(client, signal_key, body).get_json()["id"] for body in bodies]
    run_jobs()
    emails = [client.get(f"/v1/signals/{i}", headers=org["headers"]).get_json()["email"] for i in ids]
    assert emails == ["a@x.io", "b@x.io", "c@x.io"]


def test_source_comes_from_the_url_then_x_source_overrides(client, signal_key):
    assert post_signal(client, None, {"event": "x"}, f"{WEBHOOK}/forms/{signal_key}").get_json()["source"] == "forms"
    answer = post_signal(client, None, {"event": "y"}, f"{WEBHOOK}/forms/{signal_key}", **{"X-Source": "Website"})
    assert answer.get_json()["source"] == "website"


def test_segment_payloads_are_detected_unless_x_source_says_otherwise(client, signal_key):
    track = payload("segment_track.json")
    assert post_signal(client, signal_key, track, f"{WEBHOOK}/website/{signal_key}").get_json()["source"] == "segment"
    other = {**track, "messageId": "other"}
    assert post_signal(client, signal_key, other, **{"X-Source": "custom"}).get_json()["source"] == "custom"


def test_a_bad_source_slug_is_a_400(client, signal_key):
    response = post_signal(client, None, {"event": "x"}, f"{WEBHOOK}/Not%20Valid!/{signal_key}")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_source"


def test_an_anonymous_signal_goes_to_cold_storage(client, org, signal_key, run_jobs):
    answer = post_signal(client, signal_key, {"anonymousId": "anon-1", "event": "Pricing Page Viewed"}).get_json()
    assert answer["cold_storage"] is True
    run_jobs()
    signal = client.get(f"/v1/signals/{answer['id']}", headers=org["headers"]).get_json()
    assert signal["cold_storage"] is True and signal["lead_id"] is None and signal["anonymous_id"] == "anon-1"


@pytest.mark.parametrize(("name", "event"), [("segment_page.json", "page_view"),
                                             ("segment_screen_spec.json", "screen_view"),
                                             ("segment_group.json", "group"), ("segment_alias.json", "alias"),
                                             ("segment_track_spec.json", "Course Clicked"),
                                             ("segment_delete.json", None)])
def test_real_segment_calls_are_stored_with_their_event_name(client, org, signal_key, run_jobs, name, event):
    body = payload(name)
    answer = post_signal(client, signal_key, body).get_json()
    run_jobs()
    signal = client.get(f"/v1/signals/{answer['id']}", headers=org["headers"]).get_json()
    assert signal["status"] == "processed" and signal["payload"] == body
    assert signal["event"] == (event if name != "segment_delete.json" else None)
    if name != "segment_delete.json":  # delete has a messageId and userId but is not a call type we track
        assert signal["source"] == "segment"


def test_identify_creates_the_lead_with_its_traits_and_links_its_ids(client, org, signal_key, run_jobs):
    identify = payload("segment_identify.json")
    post_signal(client, signal_key, identify)
    run_jobs()
    leads = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"]
    assert len(leads) == 1
    lead = leads[0]
    assert lead["name"] == "Peter Gibbons" and lead["traits"] == identify["traits"]
    assert lead["anonymous_ids"] == [identify["anonymousId"]] and lead["signal_count"] == 1


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
    assert signal["cold_storage"] is False and signal["lead_id"] == lead["id"] and lead["signal_count"] == 2


def test_track_and_identify_in_one_batch_end_attributed_in_either_order(client, org, signal_key, run_jobs):
    identify, track = payload("segment_identify.json"), {**payload("segment_track.json"), "userId": None}
    for order in ([track, identify], [identify, {**track, "messageId": "second-track"}]):
        client.post(f"{WEBHOOK}/{signal_key}/batch", json=order)
        run_jobs()
    signals = client.get("/v1/signals?anonymous_id=3d316d2c-26e8-451f-91be-a0766708c81e",
                         headers=org["headers"]).get_json()["signals"]
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


def test_a_repeat_is_accepted_but_stored_as_a_duplicate(client, org, signal_key, run_jobs):
    body = {"email": "d@x.io", "event": "Demo Requested", "properties": {"a": 1, "b": 2}}
    first = post_signal(client, signal_key, body).get_json()["id"]
    reordered = {"properties": {"b": 2, "a": 1}, "event": "Demo Requested", "email": "d@x.io"}
    second = post_signal(client, signal_key, reordered)
    assert second.status_code == 202
    run_jobs()
    duplicate = client.get(f"/v1/signals/{second.get_json()['id']}", headers=org["headers"]).get_json()
    assert duplicate == {"id": second.get_json()["id"], "status": "duplicate", "duplicate_of": first}
    lead = client.get("/v1/leads?email=d@x.io", headers=org["headers"]).get_json()["leads"][0]
    assert lead["signal_count"] == 1
    assert client.get("/v1/usage", headers=org["headers"]).get_json()["raw_signals"] == 2


def test_segment_duplicates_are_found_by_message_id(client, org, signal_key, run_jobs):
    track = payload("segment_track.json")
    post_signal(client, signal_key, track)
    again = post_signal(client, signal_key, {**track, "sentAt": "2019-06-21T17:36:00.000Z"}).get_json()["id"]
    run_jobs()
    assert client.get(f"/v1/signals/{again}", headers=org["headers"]).get_json()["status"] == "duplicate"


def test_many_copies_in_one_batch_make_one_signal(client, org, signal_key, run_jobs):
    answer = client.post(f"{WEBHOOK}/{signal_key}/batch", json=[{"event": "same", "email": "s@x.io"}] * 50)
    assert answer.get_json()["accepted"] == 50
    run_jobs()
    processed = client.get("/v1/signals?status=processed", headers=org["headers"]).get_json()["signals"]
    duplicates = client.get("/v1/signals?status=duplicate", headers=org["headers"]).get_json()["signals"]
    assert len(processed) == 1 and len(duplicates) == 49
    assert {d["duplicate_of"] for d in duplicates} == {processed[0]["id"]}


def test_batch_accepts_segment_webhooks_actions_bare_array(client, org, signal_key, run_jobs):
    response = client.post(f"{WEBHOOK}/{signal_key}/batch", data=payload_bytes("segment_webhook_actions_batch.json"),
                           content_type="application/json", headers={"User-Agent": "Segment (Actions)"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["accepted"] == 3 and body["rejected"] == 0
    assert [row["index"] for row in body["signals"]] == [0, 1, 2]
    assert all(row["source"] == "segment" for row in body["signals"])
    run_jobs()
    events = [client.get(f"/v1/signals/{row['id']}", headers=org["headers"]).get_json()["event"]
              for row in body["signals"]]
    assert events == ["identify", "Registered", "page_view"]


def test_batch_reports_bad_items_by_index_and_accepts_the_rest(client, org, signal_key, run_jobs):
    items = [{"event": "ok"}, "not an object", {"email": "not-an-email"}, {"event": "also ok"}, [1]]
    response = client.post(f"{WEBHOOK}/{signal_key}/batch", json={"signals": items})
    assert response.status_code == 202
    body = response.get_json()
    assert (body["accepted"], body["rejected"]) == (2, 3)
    rows = body["signals"]
    assert [row["index"] for row in rows] == [0, 1, 2, 3, 4]
    assert rows[1]["error"]["error"] == "invalid_signal"
    assert rows[2]["error"]["errors"] == {"email": ["Not a valid email address."]}
    run_jobs()
    assert client.get(f"/v1/signals/{rows[3]['id']}", headers=org["headers"]).get_json()["event"] == "also ok"


def test_a_batch_with_nothing_acceptable_is_a_400(client, signal_key):
    response = client.post(f"{WEBHOOK}/{signal_key}/batch", json=[1, 2])
    assert response.status_code == 400 and set(response.get_json()["errors"]) == {"0", "1"}
    assert client.post(f"{WEBHOOK}/{signal_key}/batch", json=[]).status_code == 400


def test_a_batch_over_4000_signals_is_a_413(client, signal_key):
    response = client.post(f"{WEBHOOK}/{signal_key}/batch", json=[{"event": "e"}] * 4001)
    assert response.status_code == 413 and response.get_json()["error"] == "payload_too_large"


def test_segment_http_api_batch_merges_the_shared_context(client, org, signal_key, run_jobs):
    body = payload("segment_batch.json")
    answer = client.post(f"{WEBHOOK}/{signal_key}/batch", json=body).get_json()
    assert answer["accepted"] == len(body["batch"])
    run_jobs()
    stored = client.get(f"/v1/signals/{answer['signals'][0]['id']}", headers=org["headers"]).get_json()
    assert stored["payload"]["context"]["device"] == body["context"]["device"]
    assert stored["email"] == "jake@yahoo.com"


def test_python_client_batch_with_explicit_nulls_is_accepted(client, org, signal_key, run_jobs):
    body = payload("segment_batch_python_client.json")
    answer = client.post(f"{WEBHOOK}/{signal_key}/batch", json=body).get_json()
    assert answer["rejected"] == 0 and answer["accepted"] == len(body["batch"])
    run_jobs()
    lead = client.get("/v1/leads?email=jane@example.com", headers=org["headers"]).get_json()["leads"][0]
    assert lead["signal_count"] >= 1


def test_a_long_drain_hands_the_rest_of_the_buffer_to_a_fresh_job(client, org, signal_key, run_jobs, monkeypatch,
                                                                   redis):
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    import worker
    from hookyard.core.queues import INGEST_QUEUE

    monkeypatch.setattr(worker, "CLAIM_SIZE", 1)
    monkeypatch.setattr(worker, "DRAIN_BUDGET", 0)  # every drain stops after its first claim
    ids = [post_signal(client, signal_key, {"email": f"u{n}@example.com", "event": "Tick"}).get_json()["id"]
           for n in range(3)]
    run_jobs()
    listed = client.get("/v1/signals", headers=org["headers"]).get_json()["signals"]
    assert sorted(signal["id"] for signal in listed) == sorted(ids)  # none lost
    drains = [job for job in FinishedJobRegistry(INGEST_QUEUE, connection=redis).get_job_ids()
              if Job.fetch(job, connection=redis).func_name == "worker.drain_signals"]
    assert len(drains) == 3  # one drain per claim, each handing the rest to the next


ALIAS_NEW_ID = "507f191e81"  # segment_alias.json: previousId 97980cfea0067 (Peter's userId) -> userId 507f191e81


def _signed_in_track(message_id):
    """A track after the alias: only the new userId, no anonymousId."""
    return {**payload("segment_track.json"), "anonymousId": None, "userId": ALIAS_NEW_ID, "messageId": message_id}


@pytest.mark.parametrize("order", [("identify", "alias", "track"), ("track", "alias", "identify"),
                                   ("alias", "track", "identify"), ("track", "identify", "alias")])
def test_an_alias_ties_the_new_user_id_to_the_lead_in_any_order(client, org, signal_key, run_jobs, order):
    bodies = {"identify": payload("segment_identify.json"), "alias": payload("segment_alias.json"),
              "track": _signed_in_track("after-alias")}
    ids = {}
    for name in order:
        ids[name] = post_signal(client, signal_key, bodies[name]).get_json()["id"]
        run_jobs()
    lead = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"][0]
    track = client.get(f"/v1/signals/{ids['track']}", headers=org["headers"]).get_json()
    assert track["lead_id"] == lead["id"] and track["cold_storage"] is False
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


def test_an_alias_and_its_identify_stored_at_the_same_moment_still_meet(app, client, org, signal_key,
                                                                        store_together):
    """An alias and its identify stored by two workers at the same moment: whichever commits last (or
    both, if neither saw the other's row) links the new id after commit."""
    import orjson

    from worker import store_claim

    track = post_signal(client, signal_key, _signed_in_track("cold")).get_json()
    store_claim(app.redis, store_together.keys, [app.redis.lpop(store_together.keys.buffer)])  # the track, cold
    store_together([orjson.dumps({"id": 8_000_000 + n, "org": org["id"], "src": "segment", "at": 1_700_000_000_000,
                                  "p": payload(name)})
                    for n, name in enumerate(("segment_alias.json", "segment_identify.json"))])
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
    chain = [{**base, "previousId": "u-1", "userId": "u-2", "messageId": "c1"},
             {**base, "previousId": "u-2", "userId": "97980cfea0067", "messageId": "c2"}]
    assert client.post(f"{WEBHOOK}/{signal_key}/batch", json=chain).status_code == 202
    run_jobs()
    track = post_signal(client, signal_key, {**_signed_in_track("from-u-1"), "userId": "u-1"}).get_json()
    assert track["cold_storage"] is False  # u-1 is two aliases away from the identified id
    run_jobs()
    lead = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"][0]
    assert client.get(f"/v1/signals/{track['id']}", headers=org["headers"]).get_json()["lead_id"] == lead["id"]


def test_after_commit_work_lost_to_a_failure_is_done_by_the_retry(client, org, signal_key, run_jobs, monkeypatch):
    import worker

    cold = post_signal(client, signal_key, {**payload("segment_track.json"), "userId": None}).get_json()
    run_jobs()
    real, calls = worker.settle, []

    def fails_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away between commit and rehydration")
        return real(*args)

    monkeypatch.setattr(worker, "settle", fails_once)
    post_signal(client, signal_key, payload("segment_identify.json"))
    run_jobs()  # the first run stores the identify, then fails; RQ's retry finds it stored and settles it
    assert len(calls) == 2
    lead = client.get("/v1/leads?email=peter@example.com", headers=org["headers"]).get_json()["leads"][0]
    assert client.get(f"/v1/signals/{cold['id']}", headers=org["headers"]).get_json()["lead_id"] == lead["id"]


def test_an_alias_group_past_sqlites_variable_limit_is_linked(app, config, client, org, signal_key, run_jobs,
                                                                monkeypatch):
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
