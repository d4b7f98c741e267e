"""The `flask` commands: `flask --app app init-db` (the Procfile's release step) and `create-org NAME`."""

import click
import orjson
from flask import Flask

from hookyard.core.credentials import display_prefix, hash_credential, new_credential
from hookyard.core.db import migrate
from models import Organization

MANAGEMENT_KEY_PREFIX = "hy_mgmt_"


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
        key = new_credential(MANAGEMENT_KEY_PREFIX)
        organization = Organization.create(
            name=name, management_key_hash=hash_credential(key), management_key_prefix=display_prefix(key)
        )
        click.echo(orjson.dumps({"organization_id": organization.id, "management_key": key}).decode())
