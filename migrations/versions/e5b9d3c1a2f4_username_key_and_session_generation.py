"""one username rule (a unique normalized key) and revocable sessions (a session generation)

Revision ID: e5b9d3c1a2f4
Revises: c7d4e2a9f310
Create Date: 2026-12-01 16:40:00

Existing accounts get their key; where two usernames differ only in case, spacing or width
(`buyer` and `BUYER`, possible on PostgreSQL before), the older account keeps its name and each
later one is renamed `<name>-<id>`, printed here so an instructor can tell its owner.
"""
import sys
import unicodedata

from alembic import op
import sqlalchemy as sa


revision = 'e5b9d3c1a2f4'
down_revision = 'c7d4e2a9f310'
branch_labels = None
depends_on = None


def _key(username):
    """lab.models.user.normalize_username as of this migration (frozen here on purpose)."""
    cleaned = unicodedata.normalize("NFKC", username or "").strip()
    return unicodedata.normalize("NFKC", cleaned.casefold())


def upgrade():
    op.add_column('user', sa.Column('username_key', sa.String(length=128), nullable=False,
                                    server_default=''))
    op.add_column('user', sa.Column('session_generation', sa.Integer(), nullable=False,
                                    server_default='0'))
    user = sa.table('user', sa.column('id', sa.Integer), sa.column('username', sa.String),
                    sa.column('username_key', sa.String))
    conn = op.get_bind()
    rows = conn.execute(sa.select(user.c.id, user.c.username).order_by(user.c.id)).all()
    names = {name for _id, name in rows}
    taken = {}
    for user_id, username in rows:
        name, key = username, _key(username)
        if key in taken:
            suffix, n = f"-{user_id}", 1
            while True:
                name = username[:64 - len(suffix)] + suffix
                key = _key(name)
                if key not in taken and name not in names:
                    break
                n += 1
                suffix = f"-{user_id}-{n}"
            names.add(name)
            print(f"Renamed account {username!r} (id {user_id}) to {name!r}: "
                  f"{taken[_key(username)]!r} has the same username ignoring case.",
                  file=sys.stderr)
        taken[key] = name
        conn.execute(user.update().where(user.c.id == user_id)
                     .values(username=name, username_key=key))
    op.create_index(op.f('ix_user_username_key'), 'user', ['username_key'], unique=True)
    if conn.dialect.name != 'sqlite':  # SQLite cannot drop a default without a table copy
        op.alter_column('user', 'username_key', server_default=None)


def downgrade():
    op.drop_index(op.f('ix_user_username_key'), table_name='user')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('session_generation')
        batch_op.drop_column('username_key')
