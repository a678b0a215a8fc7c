"""foundation: roles, purposes, users, API clients

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 07:49:59.458106
"""

from alembic import op
import sqlalchemy as sa
import vault.db


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('purposes',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('legal_basis', sa.String(length=32), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("legal_basis IN ('consent', 'contract', 'legitimate_interest', 'legal_obligation')", name=op.f('ck_purposes_legal_basis')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_purposes'))
    )
    op.create_table('roles',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('builtin', sa.Boolean(), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_roles'))
    )
    op.create_table('users',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('api_clients',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('role_name', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['role_name'], ['roles.name'], name=op.f('fk_api_clients_role_name_roles'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_clients')),
    sa.UniqueConstraint('name', name=op.f('uq_api_clients_name'))
    )
    op.create_table('role_purposes',
    sa.Column('role_name', sa.String(length=64), nullable=False),
    sa.Column('purpose_code', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['purpose_code'], ['purposes.code'], name=op.f('fk_role_purposes_purpose_code_purposes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['role_name'], ['roles.name'], name=op.f('fk_role_purposes_role_name_roles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('role_name', 'purpose_code', name=op.f('pk_role_purposes'))
    )
    op.create_table('user_roles',
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('role_name', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['role_name'], ['roles.name'], name=op.f('fk_user_roles_role_name_roles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_roles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'role_name', name=op.f('pk_user_roles'))
    )
    op.create_table('api_client_purposes',
    sa.Column('client_id', sa.String(length=40), nullable=False),
    sa.Column('purpose_code', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], name=op.f('fk_api_client_purposes_client_id_api_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['purpose_code'], ['purposes.code'], name=op.f('fk_api_client_purposes_purpose_code_purposes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('client_id', 'purpose_code', name=op.f('pk_api_client_purposes'))
    )


def downgrade() -> None:
    op.drop_table('api_client_purposes')
    op.drop_table('user_roles')
    op.drop_table('role_purposes')
    op.drop_table('api_clients')
    op.drop_table('users')
    op.drop_table('roles')
    op.drop_table('purposes')
