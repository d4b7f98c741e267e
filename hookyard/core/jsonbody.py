"""Strict JSON reading for request bodies: content type, size, UTF-8, NaN and depth, each a clear 4xx."""

import orjson
from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

from hookyard.core.errors import InvalidJson, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

MAX_DEPTH = 64
JSON_TYPES = ("application/json",)


def is_json_mimetype(mimetype: str) -> bool:
    """Tell whether a mimetype is JSON (`application/json` or any `+json` type)."""
    return mimetype in JSON_TYPES or mimetype.endswith("+json")


def read_raw_body(request: Request, max_bytes: int | None = None) -> bytes:
    """Return the raw body, refusing it with a 413 past `max_bytes` before it is read."""
    if max_bytes is not None:
        request.max_content_length = max_bytes
    limit = request.max_content_length
    too_large = PayloadTooLarge(f"The request body is larger than the {limit} bytes this endpoint accepts.")
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise too_large from None
    # A chunked body has no Content-Length: werkzeug stops reading at the limit instead of refusing it,
    # so look for one byte more in what the server is still holding.
    if request.content_length is None and limit is not None and len(data) >= limit:
        if request.environ["wsgi.input"].read(1):
            raise too_large
    return data


def require_json_content_type(request: Request, allowed=()) -> str:
    """Refuse a body that is not sent as JSON (or one of `allowed`) with a 415; return the mimetype."""
    mimetype = request.mimetype or ""
    if is_json_mimetype(mimetype) or mimetype in allowed:
        return mimetype
    shown = mimetype or "none"
    raise UnsupportedMediaType(f"Send the body as application/json (Content-Type was {shown}).")


def parse_json(raw: bytes):
    """Parse JSON bytes strictly: valid UTF-8, no NaN/Infinity, at most MAX_DEPTH levels deep."""
    if not raw.strip():
        raise InvalidJson("The request body is empty; send a JSON document.")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidJson(f"The request body is not valid JSON: {error}.") from None
    check_depth(value)
    return value


def check_depth(value, max_depth: int = MAX_DEPTH) -> None:
    """Refuse documents nested deeper than `max_depth`, without recursion."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise InvalidJson(f"The JSON document is nested deeper than {max_depth} levels.")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def read_json(request: Request, *, max_bytes: int | None = None, expect: type | tuple = dict):
    """Read, check and parse a JSON request body; refuse a top-level value of the wrong type with a 400."""
    require_json_content_type(request)
    value = parse_json(read_raw_body(request, max_bytes))
    if not isinstance(value, expect):
        expected = " or ".join(_json_type_name(t) for t in (expect if isinstance(expect, tuple) else (expect,)))
        raise InvalidJson(f"The request body must be a JSON {expected}, got {_json_type_name(type(value))}.")
    return value


def _json_type_name(python_type: type) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }.get(python_type, python_type.__name__)


NUL_MESSAGE = "Must not contain the NUL character (\\u0000)."
ESCAPED_NUL = b"\\u0000"  # how a NUL must appear in JSON text: raw control characters are invalid there


def nul_paths(value) -> list[str]:
    """Return the dotted paths (`traits.name`, `items.0`) of the strings in a document, keys included, that
    hold a NUL character.

    Refusing these everywhere is the one rule for every text column: Postgres cannot store a NUL in text,
    SQLite would, and no sender means one.
    """
    found, stack = [], [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                found.append(path or "(the value)")
        elif isinstance(node, dict):
            for key, child in node.items():
                child_path = f"{path}.{key}" if path else str(key)
                if "\x00" in key:
                    found.append(child_path.replace("\x00", "\\u0000"))
                stack.append((child, child_path.replace("\x00", "\\u0000")))
        elif isinstance(node, (list, tuple)):
            stack.extend((child, f"{path}.{index}" if path else str(index)) for index, child in enumerate(node))
    return sorted(set(found))


def refuse_nul(document, raw: bytes | None = None, message: str = "The request body has invalid fields.") -> None:
    """Answer 400 naming every field of `document` that holds a NUL; `raw`, its JSON text, skips the search
    when it cannot hold one."""
    if raw is not None and ESCAPED_NUL not in raw:
        return
    paths = nul_paths(document)
    if paths:
        raise ValidationFailed({path: [NUL_MESSAGE] for path in paths}, message)
