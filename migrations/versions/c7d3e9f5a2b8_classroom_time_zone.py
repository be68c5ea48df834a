"""classroom.time_zone: the time zone a class's times are shown and exported in; None: the
lab's (LAB_TIMEZONE) (issue 12)

Revision ID: c7d3e9f5a2b8
Revises: a7d2e4c9f153
Create Date: 2026-12-12 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c7d3e9f5a2b8'
down_revision = 'a7d2e4c9f153'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('classroom', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('classroom', schema=None) as batch_op:
        batch_op.drop_column('time_zone')
