"""/docs: the API reference for people, rendered on the server from the same OpenAPI document as
/openapi.json (public, as that document is): every route, what it reads and what it answers."""

from flask import Blueprint, current_app, render_template

from hookyard.core.openapi import build_spec

bp = Blueprint("reference", __name__, template_folder="templates")
METHODS = ("get", "post", "put", "patch", "delete")


def _operations(spec: dict) -> dict:
    """Operations grouped by tag, in path order."""
    grouped = {}
    for path, operations in spec["paths"].items():
        for method in METHODS:
            if method in operations:
                operation = operations[method]
                tag = (operation.get("tags") or ["other"])[0]
                grouped.setdefault(tag, []).append((method.upper(), path, operation))
    return dict(sorted(grouped.items()))


@bp.get("/docs")
def api_reference():
    if "openapi" not in current_app.extensions:
        current_app.extensions["openapi"] = build_spec(current_app)
    spec = current_app.extensions["openapi"]
    html = render_template("dashboard/reference.html", spec=spec, groups=_operations(spec), title="API reference")
    headers = {"Content-Security-Policy": "default-src 'self'; script-src 'none'; frame-ancestors 'none'",
               "X-Frame-Options": "DENY"}  # fmt: skip
    return html, 200, headers
