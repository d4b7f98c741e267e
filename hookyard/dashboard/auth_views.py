"""Signing in and out, and changing one's password."""

from urllib.parse import urlsplit

from flask import g, redirect, request, session, url_for

from hookyard.dashboard import accounts
from hookyard.dashboard.blueprint import bp, page, sessions


def _safe_next(target: str | None) -> str:
    """Return where to go after signing in: a dashboard path only (never another site, no control bytes)."""
    if (
        target
        and target.startswith("/dashboard")
        and not urlsplit(target).netloc
        and "//" not in target
        and "\\" not in target
        and target.isprintable()
    ):
        return target
    return url_for("dashboard.overview")


@bp.route("/login", methods=("GET", "POST"))
def login():
    """The sign-in form: email and password."""
    if request.method == "GET":
        return page("login.html", next=request.args.get("next"))
    email, password = request.form.get("email", ""), request.form.get("password", "")
    client, target = request.remote_addr or "unknown", request.form.get("next")
    store = sessions()
    wait = store.attempt(email, client)
    if wait:
        message = f"Too many failed sign-ins. Try again in {(wait + 59) // 60} minute(s)."
        body, status = page("login.html", 429, error=message, email=email, next=target)
        return body, status, {"Retry-After": str(wait)}
    member = accounts.authenticate(email, password)
    if member is None:
        return page("login.html", 401, error="The email or the password is not right.", email=email, next=target)
    store.succeeded(email, client)
    session.clear()  # a fresh session (and CSRF token) on sign-in
    session["sid"] = store.start(member.id, member.organization_id, member.role)
    return redirect(_safe_next(target))


@bp.post("/logout")
def logout():
    """Sign out: the session ends here and in Redis."""
    sessions().end(session.get("sid"))
    session.clear()
    return redirect(url_for("dashboard.login"))


@bp.route("/account", methods=("GET", "POST"))
def account():
    """One's own account: change the password (which signs out every other session too)."""
    if request.method == "GET":
        return page("account.html")
    try:
        accounts.change_password(g.member, request.form.get("current", ""), request.form.get("new", ""))
    except accounts.AccountError as error:
        return page("account.html", 400, error=str(error))
    store = sessions()
    store.end_all(g.member.id)
    session.clear()
    session["sid"] = store.start(g.member.id, g.member.organization_id, g.member.role)
    return page("account.html", notice="Password changed. Every other session of yours has been signed out.")
