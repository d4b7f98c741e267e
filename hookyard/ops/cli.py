"""The `flask` commands: `init-db` (the Procfile's release step), `create-org NAME` and `create-user EMAIL`."""

import sys

import click
import orjson
from flask import Flask

from hookyard.core.db import migrate
from hookyard.dashboard import accounts
from hookyard.dashboard.sessions import Sessions
from hookyard.keys.management import create_management_key
from models import Organization


def init_app(app: Flask) -> None:
    """Add `flask init-db` and `flask create-org NAME`."""

    @app.cli.command("init-db")
    def init_db():
        """Create or migrate the tables (idempotent)."""
        applied = migrate(app.database)
        click.echo(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "database up to date")

    @app.cli.command("create-org")
    @click.argument("name")
    def create_org(name):
        """Create an organization and print its management key (shown only now)."""
        migrate(app.database)
        with app.database.atomic():
            organization = Organization.create(name=name)
            key = create_management_key(organization, "initial")
        click.echo(orjson.dumps({"organization_id": organization.id, "management_key": key}).decode())

    @app.cli.command("create-user")
    @click.argument("email")
    @click.option("--organization", "organization_id", type=int, required=True, help="The organization's id.")
    @click.option("--role", type=click.Choice(accounts.ROLES), default="admin", show_default=True)
    @click.option("--name", default=None, help="Shown in the dashboard (default: the part before the @).")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    def create_user(email, organization_id, role, name, password_stdin):
        """Let a person sign in to the dashboard; print the generated password once (unless read from stdin).

        The person is the organization's member with that email (made if new); run again to reset a password.
        """
        if Organization.get_or_none(Organization.id == organization_id) is None:
            raise click.ClickException(f"No organization {organization_id}: create one with `create-org NAME`.")
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else accounts.generate_password()
        try:
            member = accounts.create_user(organization_id, email, role, password, name)
        except accounts.AccountError as error:
            raise click.ClickException(str(error)) from None
        if app.redis is not None:
            Sessions(app.redis, app.config["HOOKYARD"].redis_prefix).end_all(member.id)  # a reset signs out
        shown = {"email": member.email, "organization_id": organization_id, "role": role}
        if not password_stdin:
            shown["password"] = password
        click.echo(orjson.dumps(shown).decode())
