"""`flask dead-letters list|retry|purge|unreadable`: dead letters for operators, across organizations or for one,
and the entries no organization could be found for."""

import datetime

import click
import orjson
from flask import Flask, current_app
from flask.cli import AppGroup
from redis.exceptions import WatchError

from hookyard.core.clock import utcnow
from hookyard.core.queues import INGEST_QUEUE
from hookyard.ops import dead_letters
from models import DeadLetter

ORGANIZATION = click.option("--organization", "organization_id", type=int, help="Only this organization's.")
KIND = click.option("--kind", type=click.Choice(dead_letters.KINDS), help="Only signals, or only flow events.")


group = AppGroup("dead-letters", help="List, retry or purge what the worker could not store.")


def init_app(app: Flask) -> None:
    """Add the `dead-letters` command group."""
    app.cli.add_command(group)


@group.command("list")
@ORGANIZATION
@KIND
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
def list_command(organization_id, kind, limit):
    """Print dead letters, newest first, one JSON object a line."""
    _collect(current_app)
    query = DeadLetter.select().order_by(DeadLetter.failed_at.desc(), DeadLetter.id.desc()).limit(limit)
    for row in _filtered(query, organization_id, kind):
        shown = dead_letters.as_dict(row)
        shown.pop("organization")
        click.echo(orjson.dumps(shown, default=str).decode())


@group.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every dead letter (within --organization/--kind).")
@ORGANIZATION
@KIND
def retry_command(ids, everything, organization_id, kind):
    """Send dead letters back to their buffer, for the worker to store again."""
    _needs_a_choice(ids, everything)
    _collect(current_app)
    redis, prefix = current_app.redis, current_app.config["HOOKYARD"].redis_prefix
    if everything:
        sent = dead_letters.retry_all(redis, prefix, organization_id, kind)
    else:
        queue = current_app.queues[INGEST_QUEUE]
        rows = _filtered(DeadLetter.select().where(DeadLetter.id.in_(ids)), organization_id, kind)
        sent = sum(dead_letters.retry(redis, prefix, queue, row) for row in rows)
    click.echo(f"sent back {sent} dead letter(s)")


@group.command("purge")
@click.argument("ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every dead letter (within the other options).")
@click.option("--older-than", "days", type=click.IntRange(0), help="Only those set aside more than N days ago.")
@ORGANIZATION
@KIND
def purge_command(ids, everything, days, organization_id, kind):
    """Delete dead letters for good: what they held is not stored."""
    _needs_a_choice(ids, everything or days is not None)
    if ids:
        removed = _filtered(DeadLetter.delete().where(DeadLetter.id.in_(ids)), organization_id, kind).execute()
    else:
        older_than = None if days is None else utcnow() - datetime.timedelta(days=days)
        removed = dead_letters.purge(organization_id, kind, older_than)
    click.echo(f"deleted {removed} dead letter(s)")


@group.command("unreadable")
@click.option("--delete", is_flag=True, help="Remove the entries printed (save the output first).")
def unreadable_command(delete):
    """Print the entries kept aside in Redis because they name no organization there is (or cannot be read),
    one JSON object a line: {"kind", "entry"}, the entry as the worker wrote it."""
    redis, prefix = current_app.redis, current_app.config["HOOKYARD"].redis_prefix
    if redis is None:
        raise click.ClickException("REDIS_URL is not set: the entries are in Redis.")
    removed = 0
    for kind in dead_letters.KINDS:
        key = dead_letters.unreadable_list(dead_letters.buffer_of(kind, prefix))
        with redis.pipeline() as watched:  # deleted only if the list is as it was printed
            watched.watch(key)
            entries = watched.lrange(key, 0, -1)
            for entry in entries:
                click.echo(orjson.dumps({"kind": kind, "entry": entry.decode("utf-8", "replace")}).decode())
            if delete and entries:
                watched.multi()
                watched.ltrim(key, len(entries), -1)
                try:
                    watched.execute()
                except WatchError as changed:
                    raise click.ClickException(
                        f"{key} changed while it was printed; none of it was deleted. Run again."
                    ) from changed
                removed += len(entries)
    if delete:
        click.echo(f"deleted {removed} unreadable entr{'y' if removed == 1 else 'ies'}", err=True)


def _collect(app: Flask) -> None:
    """Say how many entries still wait in Redis: the worker's next sweep moves them into the table, except those
    that name no organization (`flask dead-letters unreadable`)."""
    if app.redis is None:
        return
    keys = [dead_letters.buffer_of(kind, app.config["HOOKYARD"].redis_prefix) for kind in dead_letters.KINDS]
    waiting = sum(app.redis.llen(key.dead_letter) for key in keys)
    unreadable = sum(app.redis.llen(dead_letters.unreadable_list(key)) for key in keys)
    if waiting:
        click.echo(f"{waiting} more set aside in Redis, listed after the worker's next sweep", err=True)
    if unreadable:
        click.echo(f"{unreadable} naming no organization: see `flask dead-letters unreadable`", err=True)


def _filtered(query, organization_id, kind):
    if organization_id is not None:
        query = query.where(DeadLetter.organization == organization_id)
    return query.where(DeadLetter.kind == kind) if kind else query


def _needs_a_choice(ids, everything) -> None:
    if not ids and not everything:
        raise click.UsageError("Name dead letter ids, or pass --all.")
