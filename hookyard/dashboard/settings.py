"""Settings: API keys, management keys, the plan limits with this month's usage, and retention."""

import datetime

from flask import current_app, g, redirect, request, url_for

from hookyard.core.config import MAX_RETENTION_DAYS
from hookyard.core.errors import NotFound
from hookyard.core.http import current_config, current_secret_box, get_owned_or_404, public_url
from hookyard.dashboard.blueprint import admin_only, bp, page
from hookyard.dashboard.reveal import redirect_showing, take
from hookyard.keys import api_keys, management
from hookyard.ops import retention
from hookyard.signals.limits import set_limits, usage_report
from models import ApiKey, ManagementKey, RateLimit

SAVED = "Limits saved: the next signal is held to them."
RETENTION_SAVED = "Retention saved: the next purge applies it."
RETENTION_LABELS = {
    "signal_payload_days": "Signal payloads",
    "flow_event_payload_days": "Flow event payloads",
    "delivery_history_days": "Outbound events, deliveries and attempts",
    "activity_days": "Activities",
}
ENDPOINT_TYPES = {"signal_staging": "Signal staging", "flow": "Flow"}


def _intake():
    return current_app.extensions["signal_intake"]


@bp.get("/settings/api-keys")
def api_keys_page():
    """Settings → API keys: every key by its prefix."""
    keys = ApiKey.select().where(ApiKey.organization == g.organization).order_by(ApiKey.id.desc())
    return page("settings/api_keys.html", keys=list(keys), endpoint_types=ENDPOINT_TYPES)


def _expiry(value: str) -> datetime.datetime | None:
    if not value:
        return None
    try:
        expires = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("The expiry is not a date and time.") from None
    if expires.tzinfo is not None:
        try:
            expires = expires.astimezone(datetime.UTC).replace(tzinfo=None)
        except OverflowError:
            raise ValueError("In UTC the expiry falls outside the years 1 to 9999.") from None
    if expires <= datetime.datetime.now(datetime.UTC).replace(tzinfo=None):
        raise ValueError("The expiry must be in the future.")
    return expires


@bp.post("/settings/api-keys")
def create_api_key():
    """Create a key and show it (and its secret) this once, with its webhook URLs and a curl example."""
    name, endpoint_type = request.form.get("name", "").strip(), request.form.get("endpoint_type", "")
    errors = []
    if not 1 <= len(name) <= 200:
        errors.append("Give the key a name (up to 200 characters).")
    if endpoint_type not in ENDPOINT_TYPES:
        errors.append("Choose what the key is for.")
    try:
        expires_at = _expiry(request.form.get("expires_at", ""))
    except ValueError as error:
        errors.append(str(error))
    if errors:
        keys = ApiKey.select().where(ApiKey.organization == g.organization).order_by(ApiKey.id.desc())
        return page("settings/api_keys.html", 400, keys=list(keys), endpoint_types=ENDPOINT_TYPES, errors=errors)
    api_key, key, secret = api_keys.create_api_key(
        g.organization, name, endpoint_type, request.form.get("secret") == "on", expires_at, current_secret_box
    )
    return redirect_showing("dashboard.api_key_created", {"id": api_key.id, "key": key, "secret": secret})


@bp.get("/settings/api-keys/created")
def api_key_created():
    """The key (and secret) just made, shown this once, with its webhook URL and a curl example."""
    shown = take()
    if not shown:
        return redirect(url_for("dashboard.api_keys_page"))
    api_key = get_owned_or_404(ApiKey, shown["id"], "API key")
    return page(
        "settings/api_key_created.html",
        api_key=api_key,
        key=shown["key"],
        secret=shown["secret"],
        webhook_url=public_url(f"/api/signal-staging/webhook/{shown['key']}"),
        segment_url=public_url("/segment"),
    )


@bp.post("/settings/api-keys/<int:key_id>/active")
def toggle_api_key(key_id):
    api_key = get_owned_or_404(ApiKey, key_id, "API key")
    api_keys.update_api_key(api_key, {"active": request.form.get("active") == "true"})
    return redirect(url_for("dashboard.api_keys_page"))


@bp.post("/settings/api-keys/<int:key_id>/delete")
def delete_api_key(key_id):
    api_keys.delete_api_key(get_owned_or_404(ApiKey, key_id, "API key"))
    return redirect(url_for("dashboard.api_keys_page"))


@bp.get("/settings/management-keys")
def management_keys_page():
    """Settings → Management keys (admins only): the keys of the management API, by prefix."""
    admin_only()
    return page("settings/management_keys.html", keys=management.live_management_keys(g.organization))


def _own_management_key(key_id: int) -> ManagementKey:
    key = ManagementKey.get_or_none(
        (ManagementKey.id == key_id)
        & (ManagementKey.organization == g.organization)
        & ManagementKey.revoked_at.is_null()
    )
    if key is None:
        raise NotFound(f"No management key {key_id}.")
    return key


@bp.post("/settings/management-keys")
def create_management_key():
    name = request.form.get("name", "").strip()[:200] or "dashboard"
    key = management.create_management_key(g.organization, name)
    return redirect_showing("dashboard.management_key_created", {"name": name, "key": key})


@bp.post("/settings/management-keys/<int:key_id>/rotate")
def rotate_management_key(key_id):
    old = _own_management_key(key_id)
    key = management.rotate_management_key(old)
    return redirect_showing("dashboard.management_key_created", {"name": old.name, "key": key})


@bp.get("/settings/management-keys/created")
def management_key_created():
    admin_only()
    shown = take()
    if not shown:
        return redirect(url_for("dashboard.management_keys_page"))
    return page("settings/management_key_created.html", name=shown["name"], key=shown["key"])


@bp.post("/settings/management-keys/<int:key_id>/revoke")
def revoke_management_key(key_id):
    management.revoke_management_key(_own_management_key(key_id))
    return redirect(url_for("dashboard.management_keys_page"))


def _limit(value: str, name: str, minimum: int) -> int | None:
    if value.strip() == "":
        return None
    if not value.strip().isdigit() or not minimum <= int(value) <= 2**31 - 1:
        raise ValueError(f"{name} is a whole number from {minimum} (or empty for no limit).")
    return int(value)


@bp.route("/settings/limits", methods=("GET", "POST"))
def limits_page():
    """Settings → Limits & usage: the plan limits form and this month's usage with its overage."""
    errors = []
    if request.method == "POST":
        try:
            changes = {
                "raw_signals_per_month": _limit(request.form.get("raw_signals_per_month", ""), "Signals per month", 0),
                "signals_per_second": _limit(request.form.get("signals_per_second", ""), "Signals per second", 1),
                "overages_enabled": request.form.get("overages_enabled") == "on",
            }
        except ValueError as error:
            errors.append(str(error))
        else:
            set_limits(_intake(), g.organization.id, changes)
            return redirect_showing("dashboard.limits_page", {"notice": SAVED})
    notice = take().get("notice")
    status = 400 if errors else 200
    limits = RateLimit.for_organization(g.organization.id)
    usage = usage_report(_intake(), g.organization.id)
    return page("settings/limits.html", status, limits=limits, usage=usage, errors=errors, notice=notice)


def _retention_choice(name: str, label: str) -> tuple[bool, int | None]:
    """Read one setting of the retention form: (False, None) for the default, else (True, days or None for ever)."""
    choice, value = request.form.get(f"{name}_choice", "default"), request.form.get(name, "").strip()
    if choice == "default":
        return False, None
    if choice == "forever":
        return True, None
    if choice == "days" and value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_RETENTION_DAYS:
        return True, int(value)
    if choice == "days":
        raise ValueError(f"{label}: give a whole number of days from 1 to {MAX_RETENTION_DAYS:,}.")
    raise ValueError(f"{label}: choose the default, a number of days, or for ever.")


def _retention_rows(policy: dict, posted: bool) -> list[dict]:
    """Each setting as the form shows it: what is in force and the default, and the choice (as posted, on errors)."""
    rows = []
    for name, label in RETENTION_LABELS.items():
        if posted:
            choice, days = request.form.get(f"{name}_choice", "default"), request.form.get(name, "")
        elif policy["sources"][name] == "default":
            choice, days = "default", ""
        else:
            choice, days = ("forever", "") if policy[name] is None else ("days", policy[name])
        rows.append({"name": name, "label": label, "days": policy[name], "default": policy["defaults"][name],
                     "choice": choice, "value": days})  # fmt: skip
    return rows


@bp.route("/settings/retention", methods=("GET", "POST"))
def retention_page():
    """Settings → Retention: how long each kind of data is kept, the organization's own setting or the default."""
    errors, values = [], {}
    if request.method == "POST":
        for name, label in RETENTION_LABELS.items():
            try:
                chosen, days = _retention_choice(name, label)
            except ValueError as error:
                errors.append(str(error))
            else:
                if chosen:
                    values[name] = days
        if not errors:
            retention.set_policy(g.organization.id, values)
            return redirect_showing("dashboard.retention_page", {"notice": RETENTION_SAVED})
    policy = retention.describe(g.organization.id, current_config())
    rows = _retention_rows(policy, posted=bool(errors))
    notice = take().get("notice")
    minutes = max(1, current_config().retention_purge_interval // 60)
    return page(
        "settings/retention.html",
        400 if errors else 200,
        rows=rows,
        policy=policy,
        purge_minutes=minutes,
        errors=errors,
        notice=notice,
    )
