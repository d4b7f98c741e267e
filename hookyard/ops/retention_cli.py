"""`flask purge` (apply retention now, as the worker does every RETENTION_PURGE_INTERVAL) and `flask vacuum`
(SQLite: give every free page back to the file system)."""

import functools

import click
import orjson
from flask import Flask

from hookyard.ops import purge, space


def init_app(app: Flask) -> None:
    """Add `flask purge` and `flask vacuum`."""

    @app.cli.command("purge")
    @click.option("--organization", "organization_id", type=int, help="Only this organization's data.")
    @click.option(
        "--batch-size",
        type=click.IntRange(1, purge.MAX_BATCH_SIZE),
        default=purge.BATCH_SIZE,
        show_default=True,
        help="Rows per transaction.",
    )
    @click.option("--rescan", is_flag=True, help="Walk payloads from the oldest row, not from where the last ended.")
    def purge_command(organization_id, batch_size, rescan):
        """Remove what has expired under each organization's retention, and print how many rows of each kind."""
        config = app.config["HOOKYARD"]
        observe = functools.partial(purge.count_purged, app.redis, config.redis_prefix) if app.redis else None
        purged = purge.purge(
            batch_size=batch_size, organization_id=organization_id, config=config, observe=observe, rescan=rescan
        )
        released = space.release_free_space()
        click.echo(orjson.dumps({"purged": purged, "sqlite_pages_released": released}).decode())

    @app.cli.command("vacuum")
    def vacuum_command():
        """SQLite: turn on incremental auto-vacuum and rebuild the file, giving back all free space. Stop the
        worker first: it holds the write lock while it copies the database."""
        click.echo(orjson.dumps(space.vacuum()).decode())
