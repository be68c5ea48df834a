"""user.last_login_at and user.locked_at; the setting table (site settings: self-registration
for self-learners) (issue 12 item 1)

Revision ID: b6c2d8e4f1a7
Revises: c7d3e9f5a2b8
Create Date: 2026-12-12 12:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'b6c2d8e4f1a7'
# The brief said a7d2e4c9f153; classroom_time_zone (c7d3e9f5a2b8, made alongside) revises it
# too, and two heads stop `flask db upgrade`: this one follows it.
down_revision = 'c7d3e9f5a2b8'
branch_labels = None
depends_on = None


def upgrade():
    # Existing accounts: never logged in since (NULL) and not locked (NULL).
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_login_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('locked_at', sa.DateTime(), nullable=True))
    # No rows: every setting has its default (self-registration on).
    op.create_table(
        'setting',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', sa.String(length=200), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_setting')))


def downgrade():
    op.drop_table('setting')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('locked_at')
        batch_op.drop_column('last_login_at')
