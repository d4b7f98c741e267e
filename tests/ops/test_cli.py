"""The two bootstrap commands: `init-db` (idempotent migrations) and `create-org` (a key shown once)."""

import json

from playhouse.migrations import Runner

from hookyard.core.db import MIGRATIONS_DIR, migrate
from models import Organization


def test_init_db_is_idempotent(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["init-db"])
    assert first.exit_code == 0
    assert "up to date" in first.output  # the fixture already migrated
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert migrate(app.database) == []


def test_migrations_apply_on_top_of_an_older_database(tmp_path):
    from hookyard.core.db import open_database

    database = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    runner = Runner(database, MIGRATIONS_DIR)
    names = [m.name for m in runner.migrations()]
    runner.up(target=names[0])
    assert {m.name for m in runner.status() if m.applied} == {names[0]}
    assert runner.up() == names[1:]  # a later table needs no fresh database
    assert all(m.applied for m in runner.status())
    database.close()


def test_the_migrated_schema_has_every_column_the_models_use(app):
    """A column added to a model needs a migration of its own: an old database gets no edited one."""
    from models import MODELS

    for model in MODELS:
        table = model._meta.table_name
        columns = {column.name for column in app.database.get_columns(table)}
        assert {field.column_name for field in model._meta.sorted_fields} <= columns, table
        # ON CONFLICT and the dedupe rules lean on these: each must exist with its uniqueness.
        indexes = {(tuple(index.columns), index.unique) for index in app.database.get_indexes(table)}
        for index in model._meta.indexes:
            if isinstance(index, tuple):
                names, unique = index
                expected = tuple(model._meta.fields[name].column_name for name in names)
            else:
                expected, unique = tuple(field.column_name for field in index._expressions), index._unique
            assert (expected, unique) in indexes, (table, expected)


def test_create_org_prints_the_key_once_and_stores_its_hash(app, client):
    result = app.test_cli_runner().invoke(args=["create-org", "Initech"])
    assert result.exit_code == 0
    created = json.loads(result.output)
    assert set(created) == {"organization_id", "management_key"}
    assert created["management_key"].startswith("hy_mgmt_")
    stored = Organization.get_by_id(created["organization_id"])
    assert stored.name == "Initech"
    (key,) = stored.management_keys
    assert created["management_key"] not in key.key_hash  # only its hash is kept
    headers = {"Authorization": f"Bearer {created['management_key']}"}
    assert client.get("/v1/api-keys", headers=headers).get_json() == {"api_keys": [], "next_cursor": None}


def test_an_organizations_management_key_moves_to_its_own_table_and_keeps_working(tmp_path):
    from hookyard.core.db import open_database

    database = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    runner = Runner(database, MIGRATIONS_DIR)
    names = [m.name for m in runner.migrations()]
    before = names.index("0010_dashboard_people_and_management_keys") - 1
    runner.up(target=names[before])
    database.execute_sql(
        "INSERT INTO organization (name, management_key_hash, management_key_prefix, created_at) "
        "VALUES ('Old', 'a' || printf('%063d', 1), 'hy_mgmt_old', '2026-01-01 00:00:00')"
    )
    runner.up()
    rows = database.execute_sql("SELECT organization_id, name, key_hash, key_prefix FROM management_key").fetchall()
    assert rows == [(1, "initial", "a" + "0" * 62 + "1", "hy_mgmt_old")]
    database.close()
