"""runs keep an archive of what a reset replaced

Revision ID: d4a8e61f0b27
Revises: e5b9d3c1a2f4
Create Date: 2026-12-01 16:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'd4a8e61f0b27'
down_revision = 'e5b9d3c1a2f4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_from_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_run_archived_from_id'), ['archived_from_id'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_run_archived_from_id_run'), 'run',
                                    ['archived_from_id'], ['id'])


def downgrade():
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_run_archived_from_id_run'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_run_archived_from_id'))
        batch_op.drop_column('archived_from_id')
