"""temporary accounts: "try a scenario now" makes a self-learner account deleted after a day

Revision ID: f3a6c8d2e1b4
Revises: e5b7c3f1a902
Create Date: 2026-12-03 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'f3a6c8d2e1b4'
down_revision = 'e5b7c3f1a902'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('user', sa.Column('is_temporary', sa.Boolean(), nullable=False,
                                    server_default=sa.false()))
    op.create_index(op.f('ix_user_is_temporary'), 'user', ['is_temporary'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_user_is_temporary'), table_name='user')
    with op.batch_alter_table('user') as batch_op:
        batch_op.drop_column('is_temporary')
