"""What every dashboard list shares: filters read from the query string, and the API's cursors."""

from urllib.parse import urlencode

from flask import request
from marshmallow import ValidationError

from hookyard.core.pagination import paginate

PAGE_SIZE = 50


def read_filters(schema) -> tuple[dict, list[str]]:
    """Load the filters a list form sent (empty fields are no filter); return them and any problems."""
    sent = {name: value for name, value in request.args.items() if value != "" and name in schema.fields}
    try:
        return schema.load(sent), []
    except ValidationError as error:
        problems = [f"{name}: {' '.join(map(str, messages))}" for name, messages in error.messages.items()]
        return {}, problems


def page_of(query, id_field) -> tuple[list, str | None]:
    """One page of a list, newest first, and the cursor of the next (the API's own)."""
    return paginate(query, id_field, limit=PAGE_SIZE, cursor=request.args.get("cursor") or None)


def next_page_url(cursor: str | None) -> str | None:
    """The current URL with the next page's cursor, or None on the last page."""
    if cursor is None:
        return None
    args = request.args.to_dict()
    args["cursor"] = cursor
    return f"{request.path}?{urlencode(args)}"
