"""The fault suite: what a hostile client or a failing neighbour did to a real web process, reproduced end to end.

Each test runs the Procfile's `web` command (gunicorn, gevent) on the test database and Redis.
"""

import http.client
import json
import socket
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


def send_raw(base: str, request: bytes) -> tuple[int, str, dict]:
    """Send raw bytes to the server; return the answer's status, Content-Type and JSON body."""
    parts = urllib.parse.urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), json.loads(body)


TOO_MANY_HEADERS = "request_header_fields_too_large"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431, TOO_MANY_HEADERS),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % n for n in range(120)) + b"\r\n",
            431,
            TOO_MANY_HEADERS,
        ),
        (b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"),
    ],
)
def test_requests_gunicorn_refuses_itself_are_answered_in_json(web_server, request_bytes, status, code):
    answered, content_type, body = send_raw(web_server, request_bytes)
    assert answered == status
    assert content_type == "application/json"
    assert body["error"] == code
    assert body["message"]


@pytest.mark.slow
def test_a_key_in_a_request_line_gunicorn_cannot_parse_is_redacted_from_its_answer_and_log(
    make_api_key, web_server, tmp_path
):
    key = make_api_key()["key"]
    line = f"POST {SIGNAL_WEBHOOK}/{key}\u200b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    status, _, body = send_raw(web_server, line)
    assert status == 400
    assert key not in body["message"]
    log = (tmp_path / "web.log").read_text()
    assert "hy_live_[redacted]" in log
    assert key not in log
