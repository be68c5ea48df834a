"""Small shared column helpers."""
from datetime import datetime, UTC


def utcnow() -> datetime:
    """Naive UTC now (stored the same way on SQLite and PostgreSQL)."""
    return datetime.now(UTC).replace(tzinfo=None)
