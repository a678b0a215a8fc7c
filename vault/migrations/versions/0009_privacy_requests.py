"""privacy requests

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 15:39:10.456276
"""

from alembic import op
import sqlalchemy as sa
import vault.db


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('privacy_requests',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('address_digest', sa.LargeBinary(length=32), nullable=True),
    sa.Column('code_digest', sa.LargeBinary(length=32), nullable=True),
    sa.Column('code_expires_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('identity_check', sa.String(length=32), nullable=False),
    sa.Column('filed_by', sa.String(length=40), nullable=False),
    sa.Column('received_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('extended_by', sa.String(length=40), nullable=True),
    sa.Column('extended_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('extension_reason', sa.String(length=500), nullable=True),
    sa.Column('verified_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('download_digest', sa.LargeBinary(length=32), nullable=True),
    sa.Column('download_expires_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('downloaded_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('certificate', sa.Text(), nullable=True),
    sa.Column('overdue_recorded_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("channel IN ('portal', 'phone', 'letter', 'email', 'in_person')", name=op.f('ck_privacy_requests_channel')),
    sa.CheckConstraint("status IN ('pending_verification', 'verified', 'processing', 'completed', 'rejected', 'locked')", name=op.f('ck_privacy_requests_status')),
    sa.CheckConstraint("type IN ('export', 'erasure')", name=op.f('ck_privacy_requests_type')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_privacy_requests_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_requests'))
    )
    op.create_index('ix_privacy_requests_address_digest_received_at', 'privacy_requests', ['address_digest', 'received_at'], unique=False)
    op.create_index('ix_privacy_requests_customer_id', 'privacy_requests', ['customer_id'], unique=False)
    op.create_index('ix_privacy_requests_download_digest', 'privacy_requests', ['download_digest'], unique=True)
    op.create_index('ix_privacy_requests_status_due_at', 'privacy_requests', ['status', 'due_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_privacy_requests_status_due_at', table_name='privacy_requests')
    op.drop_index('ix_privacy_requests_download_digest', table_name='privacy_requests')
    op.drop_index('ix_privacy_requests_customer_id', table_name='privacy_requests')
    op.drop_index('ix_privacy_requests_address_digest_received_at', table_name='privacy_requests')
    op.drop_table('privacy_requests')
