"""Post/redirect/get with something to show once: what a form's POST made (a key, a secret, a URL, a
notice) is kept in Redis for this session only, under a token the redirect carries, and taken (deleted)
by the page that shows it. Reloading that page shows it no more, and never repeats the action."""

import hashlib
import json
import secrets

from flask import current_app, redirect, request, session, url_for

from hookyard.core.http import current_config

KEEP_SECONDS = 600


def _key(token: str) -> str:
    owner = hashlib.sha256((session.get("sid") or "").encode()).hexdigest()
    return f"{current_config().redis_prefix}:dash:reveal:{owner}:{token}"


def redirect_showing(endpoint: str, shown: dict, **values):
    """Redirect to a page, which will show `shown` once (JSON-serialisable)."""
    token = secrets.token_urlsafe(12)
    current_app.redis.set(_key(token), json.dumps(shown), ex=KEEP_SECONDS)
    return redirect(url_for(endpoint, shown=token, **values))


def take() -> dict:
    """What the redirect carried for this page, once; {} after that, or for another session."""
    token = request.args.get("shown")
    if not token:
        return {}
    kept = current_app.redis.getdel(_key(token))
    return json.loads(kept) if kept else {}
