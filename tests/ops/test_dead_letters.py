"""Dead letters end to end: a signal or flow event the worker cannot store is set aside, swept into the table,
listed per organization, retried back into its buffer or deleted, through the API and the CLI."""

import json

import orjson

from hookyard.ops import dead_letters_cli
from hookyard.ops.dead_letters import sweep_dead_letters
from models import DeadLetter, Signal
from tests.helpers import CUSTOM_EVENT, flow_events, post_signal, post_to_flow

SIGNALS_BUFFER, SIGNALS_DEAD = "hy:signals:buffer", "hy:signals:dead-letter"
FLOWS_BUFFER, FLOWS_DEAD = "hy:flows:buffer", "hy:flows:dead-letter"


def break_waiting_signal(redis):
    """Make the signal waiting in the buffer unstorable, as a row accepted by an earlier release or a bug would be."""
    (item,) = redis.lrange(SIGNALS_BUFFER, 0, -1)
    envelope = orjson.loads(item)
    envelope["p"] = ["not", "an", "object"]
    redis.lset(SIGNALS_BUFFER, 0, orjson.dumps(envelope))
    return envelope["id"]


def set_aside_as_the_worker_does(redis, buffer, dead_letter, error="a bug since fixed"):
    """Move what waits in a buffer to its dead-letter list in the worker's own entry format."""
    for item in redis.lrange(buffer, 0, -1):
        redis.rpush(dead_letter, orjson.dumps({"item": item.decode(), "error": error, "at": 1764547200.0}))
    redis.delete(buffer)


def sweep(job_context):
    """Run the worker's dead-letter sweep now (a worker's maintenance may have just run it: that holds a lock)."""
    job_context.redis.delete("hy:dead-letters:sweep-lock")
    sweep_dead_letters(job_context)


def listed(client, org, query=""):
    response = client.get(f"/v1/dead-letters{query}", headers=org["headers"])
    assert response.status_code == 200, response.data
    return response.get_json()


def test_a_signal_the_worker_cannot_store_is_listed_with_its_error_and_announced(
    client, org, other_org, signal_key, run_jobs, job_context, redis, receiver
):
    hook = client.post(
        "/v1/webhooks", json={"url": receiver.url(), "events": ["signal.dead_lettered"]}, headers=org["headers"]
    ).get_json()
    assert post_signal(client, signal_key, {"email": "ann@x.io", "event": "Signed Up"}).status_code == 202
    signal_id = break_waiting_signal(redis)
    run_jobs()
    assert redis.llen(SIGNALS_DEAD) == 1  # set aside in Redis first: that needs no database
    assert listed(client, org)["dead_letters"] == []
    sweep(job_context)
    assert redis.llen(SIGNALS_DEAD) == 0
    (dead,) = listed(client, org)["dead_letters"]
    assert dead["kind"] == "signal"
    assert dead["item_id"] == str(signal_id)
    assert dead["item"]["p"] == ["not", "an", "object"]
    assert dead["error"]
    assert dead["failed_at"].endswith("Z")
    assert client.get(f"/v1/dead-letters/{dead['id']}", headers=org["headers"]).get_json() == dead
    assert listed(client, other_org)["dead_letters"] == []
    assert client.get(f"/v1/dead-letters/{dead['id']}", headers=other_org["headers"]).status_code == 404
    run_jobs()  # the signal.dead_lettered delivery
    (request,) = receiver.received()
    event = json.loads(request["body"])
    assert event["type"] == "signal.dead_lettered"
    assert event["data"]["dead_letter_id"] == dead["id"]
    assert event["data"]["signal_id"] == str(signal_id)
    sweep(job_context)  # nothing new: no second event
    run_jobs()
    assert len(receiver.received()) == 1
    assert hook["events"] == ["signal.dead_lettered"]


def test_a_retried_dead_letter_is_stored_once_the_cause_is_gone(client, org, signal_key, run_jobs, job_context, redis):
    answer = post_signal(client, signal_key, {"email": "bob@x.io", "event": "Paid"}).get_json()
    set_aside_as_the_worker_does(redis, SIGNALS_BUFFER, SIGNALS_DEAD)
    sweep(job_context)
    (dead,) = listed(client, org)["dead_letters"]
    assert dead["error"] == "a bug since fixed"
    assert client.get(f"/v1/signals/{answer['id']}", headers=org["headers"]).status_code == 404
    retried = client.post(f"/v1/dead-letters/{dead['id']}/retry", headers=org["headers"])
    assert retried.status_code == 202
    assert retried.get_json() == {"id": dead["id"], "status": "queued"}
    assert listed(client, org)["dead_letters"] == []
    run_jobs()
    assert client.get(f"/v1/signals/{answer['id']}", headers=org["headers"]).get_json()["email"] == "bob@x.io"
    again = client.post(f"/v1/dead-letters/{dead['id']}/retry", headers=org["headers"])
    assert again.status_code == 404
    assert "dead letter" in again.get_json()["message"]


def test_a_dead_letter_that_fails_again_comes_back_under_the_same_id(
    client, org, signal_key, run_jobs, job_context, redis
):
    post_signal(client, signal_key, {"email": "cy@x.io"})
    break_waiting_signal(redis)
    run_jobs()
    sweep(job_context)
    (dead,) = listed(client, org)["dead_letters"]
    assert client.post(f"/v1/dead-letters/{dead['id']}/retry", headers=org["headers"]).status_code == 202
    run_jobs()
    sweep(job_context)
    (back,) = listed(client, org)["dead_letters"]
    assert back["id"] == dead["id"]
    assert Signal.select().count() == 0


def test_a_flow_event_dead_letter_is_retried_into_the_flow_log_and_one_can_be_deleted(
    client, org, make_flow, flow_key, run_jobs, job_context, redis
):
    flow = make_flow()
    first = post_to_flow(client, flow, CUSTOM_EVENT, **{"X-API-Key": flow_key}).get_json()
    second = post_to_flow(client, flow, {**CUSTOM_EVENT, "event": "user.left"}, **{"X-API-Key": flow_key}).get_json()
    set_aside_as_the_worker_does(redis, FLOWS_BUFFER, FLOWS_DEAD)
    sweep(job_context)
    page = listed(client, org, "?kind=flow_event&limit=1")
    assert len(page["dead_letters"]) == 1
    rest = listed(client, org, f"?kind=flow_event&limit=1&cursor={page['next_cursor']}")
    both = page["dead_letters"] + rest["dead_letters"]
    assert {dead["item_id"] for dead in both} == {first["id"], second["id"]}
    assert listed(client, org, "?kind=signal")["dead_letters"] == []
    by_item = {dead["item_id"]: dead for dead in both}
    assert by_item[first["id"]]["item"]["data"] == CUSTOM_EVENT["data"]
    deleted = client.delete(f"/v1/dead-letters/{by_item[second['id']]['id']}", headers=org["headers"])
    assert deleted.status_code == 204
    assert client.delete(f"/v1/dead-letters/{by_item[second['id']]['id']}", headers=org["headers"]).status_code == 404
    assert (
        client.post(f"/v1/dead-letters/{by_item[first['id']]['id']}/retry", headers=org["headers"]).status_code == 202
    )
    run_jobs()
    assert [event["id"] for event in flow_events(client, org, flow)] == [first["id"]]
    assert listed(client, org)["dead_letters"] == []


def test_bad_list_arguments_are_400s_naming_the_field(client, org):
    response = client.get("/v1/dead-letters?kind=lead", headers=org["headers"])
    assert response.status_code == 400
    assert "kind" in json.dumps(response.get_json())
    assert client.get("/v1/dead-letters?limit=0", headers=org["headers"]).status_code == 400
    assert client.get("/v1/dead-letters").status_code == 401


def test_an_entry_naming_no_organization_is_kept_aside_in_redis(client, org, job_context, redis):
    redis.rpush(FLOWS_DEAD, orjson.dumps({"item": "\n{not json", "error": "unparseable"}))
    sweep(job_context)
    assert redis.lrange(f"{FLOWS_DEAD}:unreadable", 0, -1) == [orjson.dumps({"item": "\n{not json",
                                                                             "error": "unparseable"})]  # fmt: skip
    assert redis.llen(FLOWS_DEAD) == 0
    assert DeadLetter.select().count() == 0


def test_the_cli_prints_the_unreadable_entries_and_deletes_only_those_it_printed(app, client, org, job_context, redis):
    entry = orjson.dumps({"item": "\n{not json", "error": "unparseable"})
    redis.rpush(FLOWS_DEAD, entry)
    sweep(job_context)
    cli = app.test_cli_runner()
    listed_first = cli.invoke(args=["dead-letters", "list"])
    assert "1 naming no organization" in listed_first.output
    result = cli.invoke(args=["dead-letters", "unreadable"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.output.splitlines()] == [
        {"kind": "flow_event", "entry": entry.decode()}
    ]
    assert redis.llen(f"{FLOWS_DEAD}:unreadable") == 1  # printing keeps them
    result = cli.invoke(args=["dead-letters", "unreadable", "--delete"])
    assert result.exit_code == 0 and "deleted 1 unreadable entry" in result.output
    assert redis.llen(f"{FLOWS_DEAD}:unreadable") == 0
    assert cli.invoke(args=["dead-letters", "unreadable"]).output == ""


def test_unreadable_delete_leaves_a_list_that_changed_while_it_was_printed_whole(
    app, client, org, job_context, redis, monkeypatch
):
    first = orjson.dumps({"item": "\n{not json", "error": "unparseable"})
    redis.rpush(FLOWS_DEAD, first)
    sweep(job_context)
    late = orjson.dumps({"item": "\n{also not json", "error": "unparseable"})
    echo = dead_letters_cli.click.echo

    def echo_while_a_sweep_sets_one_more_aside(message=None, **kwargs):
        echo(message, **kwargs)
        if message and message.startswith("{") and redis.llen(f"{FLOWS_DEAD}:unreadable") == 1:
            redis.rpush(f"{FLOWS_DEAD}:unreadable", late)

    monkeypatch.setattr(dead_letters_cli.click, "echo", echo_while_a_sweep_sets_one_more_aside)
    result = app.test_cli_runner().invoke(args=["dead-letters", "unreadable", "--delete"])
    assert result.exit_code == 1 and "Run again" in result.output
    assert redis.lrange(f"{FLOWS_DEAD}:unreadable", 0, -1) == [first, late]  # nothing deleted, nothing lost


def test_the_cli_lists_retries_and_purges(app, client, org, other_org, signal_key, run_jobs, job_context, redis):
    for n in range(3):
        post_signal(client, signal_key, {"email": f"d{n}@x.io"})
    set_aside_as_the_worker_does(redis, SIGNALS_BUFFER, SIGNALS_DEAD)
    sweep(job_context)
    cli = app.test_cli_runner()
    result = cli.invoke(args=["dead-letters", "list", "--organization", str(org["id"])])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 3 and {row["kind"] for row in rows} == {"signal"}
    assert cli.invoke(args=["dead-letters", "list", "--organization", str(other_org["id"])]).output == ""
    assert cli.invoke(args=["dead-letters", "retry"]).exit_code == 2  # neither ids nor --all
    result = cli.invoke(args=["dead-letters", "retry", rows[0]["id"]])
    assert result.output.strip() == "sent back 1 dead letter(s)"
    run_jobs()
    assert Signal.select().count() == 1
    result = cli.invoke(args=["dead-letters", "purge", "--older-than", "1"])  # set aside in 2025: older
    assert result.output.strip() == "deleted 2 dead letter(s)"
    assert DeadLetter.select().count() == 0
    assert cli.invoke(args=["dead-letters", "purge"]).exit_code == 2


def test_a_sweep_stores_what_a_dead_sweep_had_claimed_and_trims_nothing_it_did_not_store(
    client, org, signal_key, job_context, redis
):
    for n in range(3):
        post_signal(client, signal_key, {"email": f"s{n}@x.io"})
    set_aside_as_the_worker_does(redis, SIGNALS_BUFFER, SIGNALS_DEAD)
    # A sweep claimed two entries and died before storing them.
    claimed = redis.lrange(SIGNALS_DEAD, 0, 1)
    redis.ltrim(SIGNALS_DEAD, 2, -1)
    redis.rpush(f"{SIGNALS_DEAD}:moving:gone", *claimed)
    sweep(job_context)
    assert DeadLetter.select().count() == 3
    assert redis.keys(f"{SIGNALS_DEAD}*") == []


def test_an_entry_of_an_organization_that_is_gone_is_kept_aside_not_dropped(client, org, job_context, redis):
    entry = orjson.dumps({"item": orjson.dumps({"id": 7, "org": org["id"] + 1000, "p": {}}).decode(), "error": "x"})
    redis.rpush(SIGNALS_DEAD, entry)
    sweep(job_context)
    assert redis.lrange(f"{SIGNALS_DEAD}:unreadable", 0, -1) == [entry]
    assert DeadLetter.select().count() == 0
