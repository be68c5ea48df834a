"""upload reports: what a refused or partly imported upload left to read (post/redirect/get)

Revision ID: e5b7c3f1a902
Revises: d4a8e61f0b27
Create Date: 2026-12-02 09:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'e5b7c3f1a902'
down_revision = 'd4a8e61f0b27'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('upload_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('classroom_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['classroom_id'], ['classroom.id'], name=op.f('fk_upload_report_classroom_id_classroom'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_upload_report_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upload_report'))
    )
    with op.batch_alter_table('upload_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upload_report_classroom_id'), ['classroom_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_upload_report_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('upload_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upload_report_created_at'))
        batch_op.drop_index(batch_op.f('ix_upload_report_classroom_id'))
    op.drop_table('upload_report')
