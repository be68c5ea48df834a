"""The Alembic migrations build exactly the schema the models declare, on SQLite and
PostgreSQL: `flask db upgrade` on an empty database, then autogenerate finds nothing to add,
change or drop; and `flask db downgrade base` removes it all again."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from lab.extensions import db


def empty_database():
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    assert inspect(db.engine).get_table_names() == []


def flask_db(app, *args):
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def test_upgrade_from_empty_matches_the_models_and_downgrades(app):
    empty_database()
    flask_db(app, "upgrade")
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == [], "the migrations and the models differ:\n" + "\n".join(map(str, diff))
    assert set(inspect(db.engine).get_table_names()) == set(db.metadata.tables) | {
        "alembic_version"}
    flask_db(app, "downgrade", "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}


def test_upgrade_twice_changes_nothing(app):
    empty_database()
    flask_db(app, "upgrade")
    before = {t: [c["name"] for c in inspect(db.engine).get_columns(t)]
              for t in inspect(db.engine).get_table_names()}
    flask_db(app, "upgrade")
    assert {t: [c["name"] for c in inspect(db.engine).get_columns(t)]
            for t in inspect(db.engine).get_table_names()} == before
