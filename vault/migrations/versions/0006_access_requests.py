"""ownership and access requests

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 09:14:42.622009
"""

from alembic import op
import sqlalchemy as sa
import vault.db


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('access_requests',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('requester_id', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('fields', sa.Text(), nullable=False),
    sa.Column('categories', sa.Text(), nullable=False),
    sa.Column('customer_ids', sa.Text(), nullable=False),
    sa.Column('region', sa.String(length=16), nullable=False),
    sa.Column('justification', sa.String(length=1000), nullable=False),
    sa.Column('duration_days', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('approvals', sa.JSON(), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=40), nullable=False),
    sa.Column('expires_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'approved', 'denied', 'revoked')", name=op.f('ck_access_requests_status')),
    sa.CheckConstraint('duration_days BETWEEN 1 AND 90', name=op.f('ck_access_requests_duration')),
    sa.ForeignKeyConstraint(['purpose'], ['purposes.code'], name=op.f('fk_access_requests_purpose_purposes'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['requester_id'], ['users.id'], name=op.f('fk_access_requests_requester_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_requests'))
    )
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        batch_op.create_index('ix_access_requests_requester_id_status', ['requester_id', 'status'], unique=False)

    op.create_table('category_owners',
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('assigned_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_category_owners_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('category', name=op.f('pk_category_owners'))
    )


def downgrade() -> None:
    op.drop_table('category_owners')
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_access_requests_requester_id_status')

    op.drop_table('access_requests')
