"""classroom.group_size: the group size last chosen on the class page (issue 14 item 4)

Revision ID: f3a1c9d27b40
Revises: f3a6c8d2e1b4
Create Date: 2026-12-10 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'f3a1c9d27b40'
down_revision = 'f3a6c8d2e1b4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('classroom', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_size', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('classroom', schema=None) as batch_op:
        batch_op.drop_column('group_size')
