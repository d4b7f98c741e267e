"""Signal Mapping pages: the queue, the builder (leaves clicked into conditions and lead fields, the preview),
saving, applying with progress, the rules in order."""

import re

import pytest

from models import MappingRule, Signal
from tests.dashboard.conftest import csrf, post_form
from tests.helpers import segment_call, send_signal


@pytest.fixture
def queued(client, signal_key, run_jobs):
    """Segment track calls in the queue: three Demo Requested (two on the pro plan), one Signed Up."""
    for n, plan in enumerate(("pro", "pro", "free")):
        call = segment_call("segment_track.json", f"m-demo-{n}", event="Demo Requested",
                            properties={"plan": plan}, context={"traits": {"email": f"d{n}@x.io"}})  # fmt: skip
        send_signal(client, signal_key, call)
    send_signal(client, signal_key, segment_call("segment_track.json", "m-signup", event="Signed Up"))
    run_jobs()


def test_the_queue_groups_unmapped_signals_with_samples_by_dot_path_and_recommends(admin, queued):
    text = admin.get("/dashboard/mapping/queue").get_data(as_text=True)
    assert text.index("Demo Requested") < text.index("Signed Up")  # largest group first
    assert "<code>properties.plan</code>" in text
    assert "<code>context.traits.email</code>" in text
    assert "Draft a rule for Demo Requested" in text
    assert "queue/volume.svg?source=segment&amp;event=Demo+Requested" in text
    chart = admin.get("/dashboard/mapping/queue/volume.svg?source=segment&event=Demo+Requested")
    assert chart.mimetype == "image/svg+xml"
    assert "<h2>Signed Up" not in admin.get("/dashboard/mapping/queue?source=website").get_data(as_text=True)


def builder_form(page_text: str, **changes) -> dict:
    """The builder's fields as the page shows them, with changes."""
    form = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page_text).group(1)}
    for name in ("name", "source", "event", "signal_name", "score", "priority"):
        found = re.search(rf'name="{name}" [^>]*value="([^"]*)"', page_text)
        form[name] = found.group(1) if found else ""
    for field in ("email", "name", "company", "title"):
        found = re.search(rf'name="map_{field}" value="([^"]*)"', page_text)
        form[f"map_{field}"] = found.group(1) if found else ""
    form.update(changes)
    return form


def use_leaf(page_text: str, path: str, target: str) -> dict:
    """The builder's form as its "Use <path>" button sends it, with <path> to be used as `target`."""
    leaf = re.search(rf'name="leaf_(\d+)" value="{re.escape(path)}"', page_text).group(1)
    return builder_form(page_text, action=f"leaf:{leaf}", **{f"leaf_{leaf}": path, f"leaf_{leaf}_as": target})


def matched(text: str) -> int:
    return int(re.search(r'data-testid="matched">(\d+)<', text).group(1))


def test_a_rule_is_built_from_clicked_leaves_previewed_saved_and_applied(admin, queued, run_jobs):
    builder = admin.get("/dashboard/mapping/rules/new?source=segment&event=Demo+Requested").get_data(as_text=True)
    assert 'value="context.traits.email"' in builder  # the suggested rule found the email path
    assert matched(builder) == 3
    leaf = re.search(r'name="leaf_(\d+)" value="properties.plan"', builder).group(1)
    form = builder_form(
        builder, action=f"leaf:{leaf}", **{f"leaf_{leaf}": "properties.plan", f"leaf_{leaf}_as": "condition"}
    )
    clicked = admin.post("/dashboard/mapping/rules/new", data=form).get_data(as_text=True)
    assert 'name="cond_1_field" value="properties.plan"' in clicked
    assert re.search(r'name="cond_1_value"\s+disabled', clicked)  # `exists` takes no value
    condition = {"cond_1_field": "properties.plan", "cond_1_op": "in", "cond_1_value": "pro, enterprise",
                 "cond_2_field": "", "cond_2_op": "eq"}  # fmt: skip
    preview = admin.post("/dashboard/mapping/rules/preview", data={**builder_form(builder), **condition})
    assert matched(preview.get_data(as_text=True)) == 2  # the count follows the draft
    assert "condition 1 fails: properties.plan in [&#39;pro&#39;, &#39;enterprise&#39;], but it is &#39;free&#39;" in (
        preview.get_data(as_text=True)
    )
    saved = admin.post(
        "/dashboard/mapping/rules/new",
        data={**builder_form(builder, action="save", signal_name="Demo Requested", score="15"), **condition},
        follow_redirects=True,
    )
    assert "saved" in saved.get_data(as_text=True)
    rule = MappingRule.get(MappingRule.signal_name == "Demo Requested")
    assert rule.conditions == [{"field": "properties.plan", "op": "in", "value": ["pro", "enterprise"]}]
    applying = admin.post(
        f"/dashboard/mapping/rules/{rule.id}/apply", data={"csrf_token": csrf(saved)}, follow_redirects=False
    )
    progress_page = applying.headers["Location"]
    run_jobs()
    progress = admin.get(progress_page).get_data(as_text=True)
    assert 'data-testid="mapped">2<' in progress
    assert Signal.select().where(Signal.status == "mapped").count() == 2
    assert "Demo Requested" in admin.get("/dashboard/mapping/queue").get_data(as_text=True)  # the free one stays


def test_a_sample_leaf_becomes_a_lead_field_and_conditions_keep_their_rows_when_one_has_no_value(admin, queued):
    builder = admin.get("/dashboard/mapping/rules/new?source=segment&event=Demo+Requested").get_data(as_text=True)
    leaf = re.search(r'name="leaf_(\d+)" value="properties.plan"', builder).group(1)
    form = builder_form(
        builder, action=f"leaf:{leaf}", **{f"leaf_{leaf}": "properties.plan", f"leaf_{leaf}_as": "company"}
    )
    used = admin.post("/dashboard/mapping/rules/new", data=form).get_data(as_text=True)
    assert 'name="map_company" value="properties.plan"' in used
    # Row 1 `exists` sends no value (its input is disabled); row 2's value must still be row 2's.
    rows = {"cond_1_field": "properties.plan", "cond_1_op": "exists",
            "cond_2_field": "properties.plan", "cond_2_op": "eq", "cond_2_value": "pro"}  # fmt: skip
    preview = admin.post("/dashboard/mapping/rules/preview", data={**builder_form(builder), **rows})
    assert matched(preview.get_data(as_text=True)) == 2


def test_a_bad_draft_names_the_field(admin, queued):
    builder = admin.get("/dashboard/mapping/rules/new").get_data(as_text=True)
    answer = admin.post("/dashboard/mapping/rules/new", data=builder_form(builder, action="save", score="lots"))
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert re.search(r'name="score"[^>]*>\s*<span class="error"', text)
    assert re.search(r'name="name"[^>]*>\s*<span class="error"', text)


def test_rules_are_listed_in_order_moved_turned_off_and_deleted(admin, client, org):
    for name, priority in (("first", 5), ("second", 0)):
        client.post("/v1/mapping-rules", json={"name": name, "signal_name": name, "priority": priority},
                    headers=org["headers"])  # fmt: skip
    page = admin.get("/dashboard/mapping/rules").get_data(as_text=True)
    assert page.index(">first<") < page.index(">second<")
    second = MappingRule.get(MappingRule.name == "second")
    post_form(admin, f"/dashboard/mapping/rules/{second.id}/move", {"direction": "up"}, page="/dashboard/mapping/rules")
    page = admin.get("/dashboard/mapping/rules").get_data(as_text=True)
    assert page.index(">second<") < page.index(">first<")
    post_form(
        admin, f"/dashboard/mapping/rules/{second.id}/active", {"active": "false"}, page="/dashboard/mapping/rules"
    )
    assert MappingRule.get_by_id(second.id).active is False
    post_form(admin, f"/dashboard/mapping/rules/{second.id}/delete", page="/dashboard/mapping/rules")
    assert MappingRule.get_or_none(MappingRule.id == second.id) is None


def test_moving_a_rule_among_equal_priorities_moves_it_one_place_and_numbers_the_order_again(admin, client, org):
    for name in ("a", "b", "c"):  # one priority: ordered by age
        client.post(
            "/v1/mapping-rules", json={"name": name, "signal_name": name, "priority": 7}, headers=org["headers"]
        )
    c = MappingRule.get(MappingRule.name == "c")
    post_form(admin, f"/dashboard/mapping/rules/{c.id}/move", {"direction": "up"}, page="/dashboard/mapping/rules")
    order = MappingRule.select().order_by(MappingRule.priority.desc(), MappingRule.id)
    assert [(rule.name, rule.priority) for rule in order] == [("a", 30), ("c", 20), ("b", 10)]
    assert client.get(f"/v1/mapping-rules/{c.id}", headers=org["headers"]).get_json()["priority"] == 20


def test_another_organizations_rule_is_a_404(admin, client, other_org):
    theirs = client.post("/v1/mapping-rules", json={"name": "t", "signal_name": "t"}, headers=other_org["headers"])
    assert admin.get(f"/dashboard/mapping/rules/{theirs.get_json()['id']}").status_code == 404


def test_a_leads_page_shows_how_its_score_was_earned_and_leads_sort_by_score(admin, client, org, queued, run_jobs):
    rule = client.post(
        "/v1/mapping-rules",
        json={"name": "Demo", "event": "Demo Requested", "signal_name": "Demo Requested", "score": 15,
              "field_map": {"email": "context.traits.email"}},
        headers=org["headers"],
    ).get_json()  # fmt: skip
    client.post(f"/v1/mapping-rules/{rule['id']}/apply", headers=org["headers"])
    run_jobs()
    leads = admin.get("/dashboard/leads?sort=score").get_data(as_text=True)
    lead_id = re.search(r'href="/dashboard/leads/(\d+)"', leads).group(1)
    page = admin.get(f"/dashboard/leads/{lead_id}").get_data(as_text=True)
    assert "How the score was earned" in page
    assert "<td>+15</td>" in page
    assert f'href="/dashboard/mapping/rules/{rule["id"]}"' in page


def test_a_groups_daily_volume_counts_today_and_the_six_days_before(app, org, queued):
    from hookyard.mapping.queue import daily_volume

    days = daily_volume(org["id"], "segment", "Demo Requested")
    assert len(days) == 7
    assert [count for _day, count in days] == [0, 0, 0, 0, 0, 0, 3]
