"""user.must_change_password: a roster's (or a reset) password is replaced by the student's own
at the first login (issue 12 item 1)

Revision ID: a7d2e4c9f153
Revises: f3a1c9d27b40
Create Date: 2026-12-11 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'a7d2e4c9f153'
down_revision = 'f3a1c9d27b40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
