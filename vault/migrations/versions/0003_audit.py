"""audit trail

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:20:21.383280
"""

from alembic import op
import sqlalchemy as sa
import vault.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('occurred_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('customer_ids', sa.Text(), nullable=False),
    sa.Column('field_names', sa.Text(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=128), nullable=False),
    sa.Column('client_address', sa.String(length=64), nullable=False),
    sa.Column('seal_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("outcome IN ('allowed', 'denied', 'error')", name=op.f('ck_audit_events_outcome')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_actor_id', ['actor_id'], unique=False)
        batch_op.create_index('ix_audit_events_occurred_at', ['occurred_at'], unique=False)
        batch_op.create_index('ix_audit_events_seal_id_id', ['seal_id', 'id'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seal_id', sa.Integer(), nullable=False),
    sa.Column('seal_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('mac', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('audit_seals',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('sealed_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('first_event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('last_event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merkle_root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('previous_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('seal_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('entries', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_seals'))
    )
    op.create_table('audit_event_customers',
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['audit_events.id'], name=op.f('fk_audit_event_customers_event_id_audit_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', 'customer_id', name=op.f('pk_audit_event_customers'))
    )
    with op.batch_alter_table('audit_event_customers', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_customers_customer_id', ['customer_id', 'event_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('audit_event_customers', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_customers_customer_id')

    op.drop_table('audit_event_customers')
    op.drop_table('audit_seals')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_seal_id_id')
        batch_op.drop_index('ix_audit_events_occurred_at')
        batch_op.drop_index('ix_audit_events_actor_id')

    op.drop_table('audit_events')
