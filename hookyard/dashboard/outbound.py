"""Outbound → Webhooks: endpoints (create with an event picker, edit, pause, rotate the secret, test,
replay a window), each endpoint's live delivery log, and a delivery's attempts with a retry."""

import datetime

from flask import current_app, g, redirect, request, url_for

from hookyard.core.http import current_config, current_secret_box, get_owned_or_404
from hookyard.dashboard.blueprint import bp, page
from hookyard.dashboard.listing import next_page_url, page_of
from hookyard.dashboard.reveal import redirect_showing, take
from hookyard.outbound import manage
from hookyard.outbound.catalogue import list_event_types
from models import Delivery, Endpoint

STATUSES = ("pending", "retrying", "success", "failed")


def _catalogue() -> list:
    types, _ = list_event_types(g.organization.id, limit=500, after=None, include_archived=False)
    return [each.name for each in types]


def _subscription_form() -> tuple[dict, list[str]]:
    """Read the endpoint form: URL, description, the picked event types and any patterns typed in."""
    events = request.form.getlist("events") + [
        pattern.strip() for pattern in request.form.get("patterns", "").split(",") if pattern.strip()
    ]
    data = {"url": request.form.get("url", "").strip(), "events": events,
            "description": request.form.get("description", "").strip() or None}  # fmt: skip
    problems = manage.subscription_problems(g.organization.id, data, current_config().webhook_allow_private_networks)
    if not data["url"]:
        problems["url"] = ["Give the URL to deliver to."]
    if not events:
        problems["events"] = ["Pick at least one event type."]
    return data, [f"{name}: {' '.join(messages)}" for name, messages in problems.items()]


@bp.get("/outbound")
def endpoints_page(status: int = 200, **extra):
    endpoints, cursor = page_of(Endpoint.select().where(Endpoint.organization == g.organization), Endpoint.id)
    context = {"endpoints": endpoints, "catalogue": _catalogue(), "next_url": next_page_url(cursor)}
    return page("outbound/list.html", status, **context, **extra)


@bp.post("/outbound")
def create_endpoint():
    data, errors = _subscription_form()
    if errors:
        return endpoints_page(400, errors=errors, form=data)
    endpoint, secret = manage.create_endpoint(g.organization, data, current_secret_box())
    shown = {"secret": secret, "notice": "Webhook created: copy its signing secret now."}
    return redirect_showing("dashboard.endpoint_page", shown, endpoint_id=endpoint.id)


def _endpoint_page(endpoint: Endpoint, status: int = 200, **extra):
    selected = request.args.get("status") if request.args.get("status") in STATUSES else None
    deliveries, cursor = page_of(manage.delivery_query(endpoint, selected), Delivery.id)
    # Live only on the first page: refreshing a later one would bring back the first.
    live = (
        None
        if request.args.get("cursor")
        else url_for("dashboard.deliveries_fragment", endpoint_id=endpoint.id, status=selected or "")
    )
    context = {"endpoint": endpoint, "deliveries": deliveries, "statuses": STATUSES, "selected": selected,
               "live": live, "next_url": next_page_url(cursor), "catalogue": _catalogue()}  # fmt: skip
    return page("outbound/endpoint.html", status, **context, **extra)


@bp.get("/outbound/<endpoint_id>")
def endpoint_page(endpoint_id):
    return _endpoint_page(get_owned_or_404(Endpoint, endpoint_id, "webhook"), **take())


@bp.get("/outbound/<endpoint_id>/deliveries")
def deliveries_fragment(endpoint_id):
    endpoint = get_owned_or_404(Endpoint, endpoint_id, "webhook")
    selected = request.args.get("status") if request.args.get("status") in STATUSES else None
    deliveries, _ = page_of(manage.delivery_query(endpoint, selected), Delivery.id)
    return page("outbound/_deliveries.html", deliveries=deliveries)


@bp.post("/outbound/<endpoint_id>/edit")
def edit_endpoint(endpoint_id):
    endpoint = get_owned_or_404(Endpoint, endpoint_id, "webhook")
    data, errors = _subscription_form()
    if errors:
        return _endpoint_page(endpoint, 400, errors=errors)
    manage.change_endpoint(endpoint, data)
    return redirect(url_for("dashboard.endpoint_page", endpoint_id=endpoint.id))


@bp.post("/outbound/<endpoint_id>/active")
def pause_endpoint(endpoint_id):
    endpoint = get_owned_or_404(Endpoint, endpoint_id, "webhook")
    manage.change_endpoint(endpoint, {"active": request.form.get("active") == "true"})
    return redirect(url_for("dashboard.endpoint_page", endpoint_id=endpoint.id))


@bp.post("/outbound/<endpoint_id>/rotate")
def rotate_endpoint_secret(endpoint_id):
    endpoint = get_owned_or_404(Endpoint, endpoint_id, "webhook")
    secret = manage.rotate_secret(endpoint, current_secret_box())
    notice = "New signing secret below. Until the overlap ends, deliveries are signed with both secrets."
    return redirect_showing("dashboard.endpoint_page", {"secret": secret, "notice": notice}, endpoint_id=endpoint.id)


@bp.post("/outbound/<endpoint_id>/test")
def test_endpoint(endpoint_id):
    endpoint = get_owned_or_404(Endpoint, endpoint_id, "webhook")
    _event_id, delivery_id = manage.send_test(g.organization.id, endpoint, current_app.queues)
    notice = f"Test event queued as delivery {delivery_id}: it appears below."
    return redirect_showing("dashboard.endpoint_page", {"notice": notice}, endpoint_id=endpoint.id)


def _moment(name: str) -> datetime.datetime | None:
    value = request.form.get(name, "").strip()
    if not value:
        return None
    moment = datetime.datetime.fromisoformat(value)
    try:
        return moment.astimezone(datetime.UTC).replace(tzinfo=None) if moment.tzinfo else moment
    except OverflowError:
        raise ValueError("outside the years 1 to 9999 in UTC") from None


@bp.post("/outbound/<endpoint_id>/replay")
def replay_endpoint(endpoint_id):
    endpoint = get_owned_or_404(Endpoint, endpoint_id, "webhook")
    status = request.form.get("replay_status", "failed")
    try:
        since, until = _moment("since"), _moment("until")
    except ValueError:
        return _endpoint_page(endpoint, 400, errors=["The window's times are not dates and times."])
    if status not in STATUSES or since is None or (until is not None and until < since):
        return _endpoint_page(endpoint, 400, errors=["Give a status and a window whose start is before its end."])
    count = manage.replay(endpoint, status, since, until, current_app.queues)
    notice = f"{count} {status} deliveries queued again."
    return redirect_showing("dashboard.endpoint_page", {"notice": notice}, endpoint_id=endpoint.id)


@bp.get("/deliveries/<delivery_id>")
def delivery_page(delivery_id):
    delivery = get_owned_or_404(Delivery, delivery_id, "delivery")
    return page("outbound/delivery.html", delivery=delivery, attempts=manage.attempts_of(delivery), **take())


@bp.post("/deliveries/<delivery_id>/retry")
def retry_delivery(delivery_id):
    delivery = get_owned_or_404(Delivery, delivery_id, "delivery")
    manage.retry_now(delivery, current_app.queues)
    notice = "One more attempt queued: reload in a moment to see it."
    return redirect_showing("dashboard.delivery_page", {"notice": notice}, delivery_id=delivery.id)
