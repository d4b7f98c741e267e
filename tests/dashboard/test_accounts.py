"""Signing in and out, sessions, throttling, CSRF, security headers, and the create-user command."""

import json

from tests.dashboard.conftest import PASSWORD, csrf, post_form, sign_in


def test_create_user_prints_a_generated_password_once_that_signs_in(app, org):
    result = app.test_cli_runner().invoke(args=["create-user", "Ann@Example.com", "--organization", str(org["id"])])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert (shown["email"], shown["role"]) == ("ann@example.com", "admin")
    client = app.test_client()
    assert sign_in(client, "ann@example.com", shown["password"]).headers["Location"] == "/dashboard/"
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert "Overview" in page.get_data(as_text=True)


def test_create_user_reuses_the_organizations_member(app, client, org, project):
    result = app.test_cli_runner().invoke(
        args=["create-user", "agent@example.com", "--organization", str(org["id"]), "--role", "viewer"]
    )
    assert result.exit_code == 0
    members = client.get("/v1/members", headers=org["headers"]).get_json()["members"]
    assert [m["email"] for m in members].count("agent@example.com") == 1


def test_create_user_refuses_an_unknown_organization_and_a_short_password(app, org):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["create-user", "a@x.io", "--organization", "999"]).exit_code != 0
    short = runner.invoke(
        args=["create-user", "a@x.io", "--organization", str(org["id"]), "--password-stdin"], input="short\n"
    )
    assert short.exit_code != 0
    assert "12 characters" in short.output


def test_a_stranger_is_sent_to_sign_in_and_a_wrong_password_is_refused(app, make_user):
    email = make_user()
    client = app.test_client()
    answer = client.get("/dashboard/settings/api-keys")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/dashboard/login?next=/dashboard/settings/api-keys")
    refused = sign_in(client, email, "not the password")
    assert refused.status_code == 401
    assert "not right" in refused.get_data(as_text=True)
    assert sign_in(client, "nobody@example.com").status_code == 401
    assert client.get("/dashboard/").status_code == 302


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(app, make_user):
    email = make_user()
    client = app.test_client()
    token = csrf(client.get("/dashboard/login"))
    form = {"email": email, "password": PASSWORD, "csrf_token": token}
    assert (
        client.post("/dashboard/login", data={**form, "next": "/dashboard/settings/limits"}).headers["Location"]
        == "/dashboard/settings/limits"
    )
    other = app.test_client()
    token = csrf(other.get("/dashboard/login"))
    answer = other.post("/dashboard/login", data={**form, "csrf_token": token, "next": "//evil.example/x"})
    assert answer.headers["Location"] == "/dashboard/"


def test_failed_sign_ins_are_throttled_per_account_with_a_429(app, make_user):
    email = make_user()
    client = app.test_client()
    for _ in range(10):
        assert sign_in(client, email, "wrong password!").status_code == 401
    throttled = sign_in(client, email)  # even the right password now waits
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in throttled.get_data(as_text=True)


def test_signing_out_ends_the_session_for_good(app, admin):
    cookie = admin.get_cookie("hy_session")
    assert post_form(admin, "/dashboard/logout", page="/dashboard/", follow=False).status_code == 302
    stolen = app.test_client()
    stolen.set_cookie("hy_session", cookie.value)  # a copy of the cookie from before signing out
    assert stolen.get("/dashboard/").status_code == 302


def test_a_password_change_ends_every_other_session(app, make_user):
    email = make_user()
    first, second = app.test_client(), app.test_client()
    sign_in(first, email)
    sign_in(second, email)
    changed = post_form(first, "/dashboard/account", {"current": PASSWORD, "new": "a brand new passphrase"})
    assert changed.status_code == 200
    assert "Password changed" in changed.get_data(as_text=True)
    assert first.get("/dashboard/").status_code == 200
    assert second.get("/dashboard/").status_code == 302
    assert sign_in(app.test_client(), email, "a brand new passphrase").status_code == 302


def test_a_form_without_its_csrf_token_is_refused(admin):
    answer = admin.post("/dashboard/settings/api-keys", data={"name": "x", "endpoint_type": "flow"})
    assert answer.status_code == 400
    assert "Form refused" in answer.get_data(as_text=True)
    forged = admin.post("/dashboard/settings/api-keys", data={"name": "x", "endpoint_type": "flow", "csrf_token": "x"})
    assert forged.status_code == 400


def test_sign_in_itself_needs_the_forms_csrf_token(app, make_user):
    email = make_user()
    answer = app.test_client().post("/dashboard/login", data={"email": email, "password": PASSWORD})
    assert answer.status_code == 400


def test_pages_carry_a_strict_content_security_policy_and_no_framing(admin):
    page = admin.get("/dashboard/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in page.get_data(as_text=True)  # no inline script: only script src=


def test_the_session_cookie_is_httponly_and_samesite_lax(app, make_user):
    client = app.test_client()
    answer = sign_in(client, make_user())
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is not https here


def test_the_management_api_keeps_working_beside_the_dashboard(client, org, admin):
    assert client.get("/v1/api-keys", headers=org["headers"]).status_code == 200
    assert (
        client.post("/v1/api-keys", json={"name": "k", "endpoint_type": "flow"}, headers=org["headers"]).status_code
        == 201
    )


def test_the_root_leads_to_the_dashboard(client):
    assert client.get("/").headers["Location"] == "/dashboard/"


def test_a_password_reset_ends_sessions_even_when_redis_forgot_whose_they_were(app, redis, make_user):
    email = make_user()
    client = app.test_client()
    sign_in(client, email)
    for key in redis.scan_iter("*dash:member-sessions:*"):
        redis.delete(key)  # as when that list expired before the session did
    make_user(email)  # create-user again: a new password
    assert client.get("/dashboard/").status_code == 302


def test_a_session_ends_a_day_after_sign_in_however_busy(app, redis, make_user):
    client = app.test_client()
    sign_in(client, make_user())
    (key,) = list(redis.scan_iter("*dash:session:*"))
    redis.hset(key, "at", 1_000_000_000)  # signed in long ago
    assert client.get("/dashboard/").status_code == 302


def test_a_live_refresh_neither_keeps_a_session_alive_nor_gets_the_sign_in_page(app, redis, admin):
    (key,) = list(redis.scan_iter("*dash:session:*"))
    redis.expire(key, 100)
    assert admin.get("/dashboard/imports/live", headers={"X-Requested-With": "fetch"}).status_code == 200
    assert redis.ttl(key) <= 100  # not renewed by the page's own polling
    redis.delete(key)
    assert admin.get("/dashboard/imports/live", headers={"X-Requested-With": "fetch"}).status_code == 401


def test_a_next_with_control_characters_or_backslashes_goes_to_the_overview(app, make_user):
    email = make_user()
    for target in ("/dashboard/\r\nX: 1", "/dashboard\\\\evil.example"):
        client = app.test_client()
        token = csrf(client.get("/dashboard/login"))
        answer = client.post(
            "/dashboard/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": target}
        )
        assert answer.headers["Location"] == "/dashboard/"


def test_behind_a_trusted_proxy_the_throttle_counts_the_forwarded_client(config, redis, org):
    from app import create_app
    from hookyard.dashboard.sessions import MAX_ATTEMPTS_PER_ADDRESS, Sessions

    app = create_app(config.__class__(**{**config.__dict__, "trusted_proxy_hops": 1}))
    client = app.test_client()
    store = Sessions(redis, config.redis_prefix)
    for n in range(MAX_ATTEMPTS_PER_ADDRESS):
        store.attempt(f"someone{n}@example.com", "203.0.113.9")  # one client, used up
    token = csrf(client.get("/dashboard/login"))
    form = {"email": "x@example.com", "password": "not it at all", "csrf_token": token}
    other = client.post("/dashboard/login", data=form, headers={"X-Forwarded-For": "198.51.100.7"})
    assert other.status_code == 401  # another client behind the same proxy is not locked out
    same = client.post("/dashboard/login", data=form, headers={"X-Forwarded-For": "203.0.113.9"})
    assert same.status_code == 429


def test_docs_is_the_api_reference_for_people_from_the_openapi_document(client):
    page = client.get("/docs")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "POST /api/signal-staging/webhook/{api_key}" in text
    assert "POST /segment/v1/batch" in text
    assert "script-src 'none'" in page.headers["Content-Security-Policy"]
