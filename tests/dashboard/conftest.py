"""Dashboard fixtures: people who can sign in, and signed-in test clients (CSRF tokens read off the pages)."""

import json
import re

import pytest

PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(response) -> str:
    """The CSRF token of the first form on a page."""
    found = TOKEN.search(response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:500]
    return found.group(1)


def sign_in(client, email: str, password: str = PASSWORD):
    token = csrf(client.get("/dashboard/login"))
    return client.post("/dashboard/login", data={"email": email, "password": password, "csrf_token": token})


def post_form(client, path: str, data: dict | None = None, page: str | None = None, follow: bool = True):
    """Submit a dashboard form as a browser does: with the CSRF token of the page it is on, following the
    redirect to the page that shows the result."""
    token = csrf(client.get(page or path))
    return client.post(path, data={**(data or {}), "csrf_token": token}, follow_redirects=follow)


@pytest.fixture
def make_user(app, org):
    """Create a dashboard person with the CLI; return their email."""

    def make(email="admin@example.com", role="admin", organization_id=None):
        result = app.test_cli_runner().invoke(
            args=["create-user", email, "--organization", str(organization_id or org["id"]), "--role", role,
                  "--password-stdin"],
            input=PASSWORD + "\n",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["email"]

    return make


@pytest.fixture
def admin(app, make_user):
    """A test client signed in as an admin."""
    email = make_user()
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


@pytest.fixture
def viewer(app, make_user):
    """A test client signed in as a viewer."""
    email = make_user("viewer@example.com", role="viewer")
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client
