"""What every dashboard list shares: filters read from the query string, and the API's cursors."""

from urllib.parse import urlencode

from flask import request
from marshmallow import ValidationError

from hookyard.core.pagination import paginate, paginate_by_time
from hookyard.dashboard.blueprint import page

PAGE_SIZE = 50


def read_filters(schema) -> tuple[dict, list[str]]:
    """Load the filters a list form sent (empty fields are no filter); return them and any problems."""
    sent = {name: value for name, value in request.args.items() if value != "" and name in schema.fields}
    try:
        return schema.load(sent), []
    except ValidationError as error:
        problems = [f"{name}: {' '.join(map(str, messages))}" for name, messages in error.messages.items()]
        return {}, problems


def page_of(query, id_field, time_field=None) -> tuple[list, str | None]:
    """One page of a list, newest first (by id, or by `time_field` then id), and the next page's cursor (the API's)."""
    cursor = request.args.get("cursor") or None
    if time_field is not None:
        return paginate_by_time(query, time_field, id_field, limit=PAGE_SIZE, cursor=cursor)
    return paginate(query, id_field, limit=PAGE_SIZE, cursor=cursor)


def list_page(template: str, rows_name: str, query_for, id_field, *, schema=None, time_field=None, **context):
    """Render a filtered list the way every dashboard list is: filters read from the query string (a 400 naming
    the bad ones), one page of `query_for(filters)`, and the next page's link."""
    filters, errors = read_filters(schema) if schema is not None else ({}, [])
    rows, cursor = page_of(query_for(filters), id_field, time_field)
    context.update({rows_name: rows, "filters": filters, "errors": errors, "next_url": next_page_url(cursor)})
    return page(template, 400 if errors else 200, **context)


def next_page_url(cursor: str | None) -> str | None:
    """The current URL with the next page's cursor, or None on the last page."""
    if cursor is None:
        return None
    args = request.args.to_dict()
    args["cursor"] = cursor
    return f"{request.path}?{urlencode(args)}"
