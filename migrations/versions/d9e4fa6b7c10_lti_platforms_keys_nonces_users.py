"""LTI 1.3: lti_platform (registered learning platforms), lti_key (the lab's key pair),
lti_nonce (each OIDC login's nonce, used once), lti_user (a platform user → a lab account)
(issue 12 item 2)

Revision ID: d9e4fa6b7c10
Revises: b6c2d8e4f1a7
Create Date: 2026-12-01 23:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'd9e4fa6b7c10'
down_revision = 'b6c2d8e4f1a7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lti_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('private_key_pem', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_key')),
    sa.UniqueConstraint('kid', name=op.f('uq_lti_key_kid'))
    )
    op.create_table('lti_platform',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issuer', sa.String(length=255), nullable=False),
    sa.Column('client_id', sa.String(length=255), nullable=False),
    sa.Column('deployment_ids', sa.JSON(), nullable=False),
    sa.Column('auth_login_url', sa.String(length=500), nullable=False),
    sa.Column('auth_token_url', sa.String(length=500), nullable=False),
    sa.Column('key_set_url', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_platform')),
    sa.UniqueConstraint('issuer', 'client_id', name=op.f('uq_lti_platform_issuer_client_id'))
    )
    op.create_table('lti_nonce',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=128), nullable=False),
    sa.Column('state', sa.String(length=128), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['platform_id'], ['lti_platform.id'], name=op.f('fk_lti_nonce_platform_id_lti_platform'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_nonce')),
    sa.UniqueConstraint('nonce', name=op.f('uq_lti_nonce_nonce'))
    )
    with op.batch_alter_table('lti_nonce', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lti_nonce_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lti_nonce_platform_id'), ['platform_id'], unique=False)

    op.create_table('lti_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('sub', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['lti_platform.id'], name=op.f('fk_lti_user_platform_id_lti_platform'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_lti_user_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_user')),
    sa.UniqueConstraint('platform_id', 'sub', name=op.f('uq_lti_user_platform_id_sub'))
    )
    with op.batch_alter_table('lti_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lti_user_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('lti_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lti_user_user_id'))

    op.drop_table('lti_user')
    with op.batch_alter_table('lti_nonce', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lti_nonce_platform_id'))
        batch_op.drop_index(batch_op.f('ix_lti_nonce_created_at'))

    op.drop_table('lti_nonce')
    op.drop_table('lti_platform')
    op.drop_table('lti_key')
