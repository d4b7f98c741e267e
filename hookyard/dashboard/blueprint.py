"""The dashboard's blueprint: who is signed in, what a role may do, CSRF on every form, security headers.

Every request but sign-in needs a session; a viewer's writes are 403s; every POST carries Flask-WTF's
CSRF token; every answer carries a Content-Security-Policy without inline script, and DENY framing.
"""

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms.validators import ValidationError

from hookyard.core.errors import ApiError
from hookyard.core.http import current_config
from hookyard.dashboard.sessions import Sessions
from models import Member, Organization

bp = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/dashboard",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

PUBLIC_ENDPOINTS = ("dashboard.login", "dashboard.static")
SELF_SERVICE = ("dashboard.logout", "dashboard.account")  # what a viewer may post: their own session and password
SAFE_METHODS = ("GET", "HEAD")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class Forbidden(Exception):
    """A viewer asked for something only an admin may do or see."""


def sessions() -> Sessions:
    return Sessions(current_app.redis, current_config().redis_prefix)


@bp.before_request
def require_session():
    """Resolve the session to g.member and g.organization; send strangers to sign in; guard writes."""
    if request.method not in SAFE_METHODS:
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError as error:
            raise CSRFError(str(error)) from None
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    live_refresh = request.headers.get("X-Requested-With") == "fetch"
    signed_in = sessions().get(session.get("sid"), renew=not live_refresh)  # an open tab alone keeps no session
    member = Member.get_or_none(Member.id == signed_in.member_id) if signed_in else None
    if member is None or member.role is None or _password_changed_since(member, signed_in):
        session.pop("sid", None)
        if live_refresh:
            return "", 401  # the page's script leaves the region as it is
        return redirect(url_for("dashboard.login", next=request.full_path if request.method == "GET" else None))
    g.member = member
    g.organization = Organization.get_by_id(signed_in.organization_id)
    if request.method not in SAFE_METHODS and member.role != "admin" and request.endpoint not in SELF_SERVICE:
        raise Forbidden("A viewer can look at everything but change nothing.")
    return None


def _password_changed_since(member: Member, signed_in) -> bool:
    """A password change (or reset) ends every session started before it, whatever Redis still holds."""
    return member.password_changed_at is not None and member.password_changed_at > signed_in.started


def admin_only() -> None:
    """Refuse a page of credentials to a viewer."""
    if g.member.role != "admin":
        raise Forbidden("Only an admin can see credentials.")


@bp.after_request
def secure(response):
    # A chart is an SVG shown as <img> (its script never runs there); its drawing needs its inline styles.
    chart = response.mimetype == "image/svg+xml"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'" if chart else CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "dashboard.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_context_processor
def template_globals():
    return {"csrf_token": generate_csrf}


def page(template: str, status: int = 200, **context):
    """Render a dashboard page."""
    return render_template(f"dashboard/{template}", **context), status


@bp.errorhandler(Forbidden)
def forbidden(error):
    return page("error.html", 403, title="Not allowed", message=str(error))


@bp.errorhandler(CSRFError)
def csrf_refused(error):
    message = "This form expired or did not come from this dashboard. Go back, reload the page and try again."
    return page("error.html", 400, title="Form refused", message=message)


@bp.errorhandler(ApiError)
def api_error(error):
    """A rule the API answers in JSON (a 404 for another organization's id, say), as a page."""
    return page("error.html", error.status, title=error.code.replace("_", " ").capitalize(), message=error.message)


@bp.errorhandler(404)
def not_found(error):
    return page("error.html", 404, title="Not found", message=getattr(error, "description", "Not found."))
