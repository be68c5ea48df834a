"""The Alembic migrations build exactly the schema the models declare, on SQLite and
PostgreSQL: `flask db upgrade` on an empty database, then autogenerate finds nothing to add."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from lab.extensions import db


def test_upgrade_from_empty_matches_the_models_and_downgrades(app):
    directory = app.extensions["migrate"].directory
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(directory=directory)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == [], diff
    downgrade(directory=directory, revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
