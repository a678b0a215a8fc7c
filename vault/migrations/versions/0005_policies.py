"""policies

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 08:52:09.876123
"""

from alembic import op
import sqlalchemy as sa
import vault.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('casbin_rule',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ptype', sa.String(length=8), nullable=False),
    sa.Column('v0', sa.String(length=128), nullable=True),
    sa.Column('v1', sa.String(length=128), nullable=True),
    sa.Column('v2', sa.String(length=128), nullable=True),
    sa.Column('v3', sa.String(length=128), nullable=True),
    sa.Column('v4', sa.String(length=128), nullable=True),
    sa.Column('v5', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_casbin_rule'))
    )
    with op.batch_alter_table('casbin_rule', schema=None) as batch_op:
        batch_op.create_index('ix_casbin_rule_ptype_v0', ['ptype', 'v0'], unique=False)

    # Plain ALTERs: a batch rebuild of users or api_clients would drop the old table, and with
    # foreign keys on that cascades into user_roles and api_client_purposes.
    op.add_column('api_clients', sa.Column('regions', sa.String(length=200), nullable=False, server_default=''))
    op.add_column('users', sa.Column('regions', sa.String(length=200), nullable=False, server_default=''))



def downgrade() -> None:
    op.drop_column('users', 'regions')
    op.drop_column('api_clients', 'regions')

    with op.batch_alter_table('casbin_rule', schema=None) as batch_op:
        batch_op.drop_index('ix_casbin_rule_ptype_v0')

    op.drop_table('casbin_rule')
