"""Fixtures shared by every layer of tests (plain helpers are in tests/helpers.py).

Every test that uses `app` runs on SQLite, and again on PostgreSQL when TEST_DATABASE_URL is set
(CI sets it to the local server). On PostgreSQL each test process works in a schema of its own,
created fresh from the models when the process starts (so a changed model never meets a stale
table, and two test runs on one server never meet) and dropped when it ends; every test starts
from empty tables."""
import pytest
from sqlalchemy import text

from lab import create_app
from lab.extensions import db
from tests.helpers import BACKENDS, IsolatedClient, _config, _prepare_pg_schema


@pytest.fixture(params=BACKENDS)
def app(request, tmp_path, monkeypatch):
    monkeypatch.setenv("ECOMLAB_INSTANCE", str(tmp_path / "instance"))
    app = create_app(_config(request.param, tmp_path))
    app.test_client_class = IsolatedClient
    with app.app_context():
        if request.param == "postgresql":
            _prepare_pg_schema(db.engine)
            db.create_all()
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            db.create_all()
        app.backend = request.param
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def english(app):
    """Everything in the test happens, and is read, in English (the lab's default is zh)."""
    from flask_babel import force_locale
    with force_locale("en"):
        yield


@pytest.fixture
def client(app):
    return app.test_client()
