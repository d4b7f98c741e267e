"""The fault suite: what a hostile client or a failing neighbour did to a real web process, reproduced end to end.

Each test runs the Procfile's `web` command (gunicorn, gevent) on the test database and Redis.
"""

import http.client
import json
import urllib.parse

import pytest

from tests.helpers import SIGNAL_WEBHOOK


def post_chunked(base: str, path: str, body: bytes, content_type="application/json") -> tuple[int, dict]:
    """POST `body` in 16 KB chunks (Transfer-Encoding: chunked, no Content-Length); return (status, JSON)."""
    parts = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    chunks = (body[start : start + 16384] for start in range(0, len(body), 16384))
    try:
        connection.request("POST", path, body=chunks, headers={"Content-Type": content_type}, encode_chunked=True)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.slow
def test_a_chunked_body_over_the_limit_is_a_413_through_gunicorn(client, org, make_api_key, web_server):
    key = make_api_key()["key"]
    too_big = json.dumps({"email": "ann@x.io", "blob": "x" * (300 * 1024)}).encode()
    status, body = post_chunked(web_server, f"{SIGNAL_WEBHOOK}/{key}", too_big)
    assert status == 413
    assert body["error"] == "payload_too_large"
    status, body = post_chunked(web_server, f"{SIGNAL_WEBHOOK}/{key}", json.dumps({"email": "ann@x.io"}).encode())
    assert status == 202
    assert client.get("/v1/usage", headers=org["headers"]).get_json()["raw_signals"] == 1
