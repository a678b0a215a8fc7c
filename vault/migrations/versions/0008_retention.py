"""retention

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 12:13:22.810516

Columns are added to ``customers`` with plain ALTERs: a batch (copy-and-rename) migration of a
parent table would cascade-delete its children on SQLite.
"""

from alembic import op
import sqlalchemy as sa
import vault.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('retention_rules',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('field', sa.String(length=64), nullable=True),
    sa.Column('trigger', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=True),
    sa.Column('period_days', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('erase_field', 'anonymise', 'erase_customer')", name=op.f('ck_retention_rules_action')),
    sa.CheckConstraint("trigger IN ('created', 'last_activity', 'consent_withdrawn', 'relationship_ended')", name=op.f('ck_retention_rules_trigger')),
    sa.CheckConstraint('period_days BETWEEN 0 AND 36500', name=op.f('ck_retention_rules_period_days')),
    sa.ForeignKeyConstraint(['purpose'], ['purposes.code'], name=op.f('fk_retention_rules_purpose_purposes'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_rules'))
    )
    op.create_index('ix_consent_states_event_id', 'consent_states', ['event_id'], unique=False)
    op.add_column('access_requests', sa.Column('expiry_recorded_at', vault.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('customers', sa.Column('erasure', sa.String(length=16), nullable=True))
    op.add_column('customers', sa.Column('relationship_ended_at', vault.db.UTCDateTime(timezone=True), nullable=True))
    op.create_index('ix_customers_last_activity_at', 'customers', ['last_activity_at'], unique=False)
    op.create_index('ix_customers_relationship_ended_at', 'customers', ['relationship_ended_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_customers_relationship_ended_at', table_name='customers')
    op.drop_index('ix_customers_last_activity_at', table_name='customers')
    op.drop_column('customers', 'relationship_ended_at')
    op.drop_column('customers', 'erasure')
    op.drop_column('access_requests', 'expiry_recorded_at')
    op.drop_index('ix_consent_states_event_id', table_name='consent_states')

    op.drop_table('retention_rules')
