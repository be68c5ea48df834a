"""events keep the world values of their moment; longer request keys

Revision ID: c7d4e2a9f310
Revises: b1c19fc325f7
Create Date: 2026-12-01 14:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c7d4e2a9f310'
down_revision = 'b1c19fc325f7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('world', sa.JSON(), nullable=True))
        batch_op.alter_column('request_key', existing_type=sa.String(length=64),
                              type_=sa.String(length=80), existing_nullable=True)


def downgrade():
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.alter_column('request_key', existing_type=sa.String(length=80),
                              type_=sa.String(length=64), existing_nullable=True)
        batch_op.drop_column('world')
