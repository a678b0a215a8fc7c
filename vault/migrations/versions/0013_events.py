"""events for consumer systems: the outbox, its audience, subscriptions, deliveries and
acknowledgements

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 21:35:39.274146
"""

from alembic import op
import sqlalchemy as sa
import vault.db


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('occurred_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('region', sa.String(length=16), nullable=True),
    sa.Column('purpose', sa.String(length=64), nullable=True),
    sa.Column('fields', sa.String(length=2000), nullable=False),
    sa.Column('data', sa.String(length=2000), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=True),
    sa.Column('numbered_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("type IN ('customer.created', 'customer.updated', 'consent.changed', 'customer.anonymised', 'customer.erased', 'field.erased')", name=op.f('ck_events_type')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_events')),
    sa.UniqueConstraint('id', name=op.f('uq_events_id'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_customer_id', ['customer_id'], unique=False)
        batch_op.create_index('ix_events_occurred_at', ['occurred_at'], unique=False)
        batch_op.create_index('ix_events_position', ['position'], unique=True)
        batch_op.create_index('ix_events_unnumbered', ['seq'], unique=False, sqlite_where=sa.text('position IS NULL'), postgresql_where=sa.text('position IS NULL'))

    op.create_table('event_audience',
    sa.Column('event_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['event_seq'], ['events.seq'], name=op.f('fk_event_audience_event_seq_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_seq', 'purpose', name=op.f('pk_event_audience'))
    )
    op.create_table('event_acknowledgements',
    sa.Column('event_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('client_id', sa.String(length=40), nullable=False),
    sa.Column('acknowledged_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], name=op.f('fk_event_acknowledgements_client_id_api_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_seq'], ['events.seq'], name=op.f('fk_event_acknowledgements_event_seq_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_seq', 'client_id', name=op.f('pk_event_acknowledgements'))
    )
    op.create_table('subscriptions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('client_id', sa.String(length=40), nullable=False),
    sa.Column('event_types', sa.String(length=500), nullable=False),
    sa.Column('secret_ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('fanned_out_to', sa.BigInteger(), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'paused')", name=op.f('ck_subscriptions_status')),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], name=op.f('fk_subscriptions_client_id_api_clients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions')),
    sa.UniqueConstraint('name', name=op.f('uq_subscriptions_name'))
    )
    op.create_table('deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subscription_id', sa.String(length=40), nullable=False),
    sa.Column('event_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=64), nullable=False),
    sa.Column('delivered_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name=op.f('ck_deliveries_status')),
    sa.ForeignKeyConstraint(['event_seq'], ['events.seq'], name=op.f('fk_deliveries_event_seq_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_deliveries_subscription_id_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('subscription_id', 'event_seq', name=op.f('uq_deliveries_subscription_id_event_seq'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_deliveries_order', ['subscription_id', 'customer_id', 'position'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_order')
        batch_op.drop_index('ix_deliveries_due')

    op.drop_table('deliveries')
    op.drop_table('subscriptions')
    op.drop_table('event_acknowledgements')
    op.drop_table('event_audience')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_unnumbered', sqlite_where=sa.text('position IS NULL'), postgresql_where=sa.text('position IS NULL'))
        batch_op.drop_index('ix_events_position')
        batch_op.drop_index('ix_events_occurred_at')
        batch_op.drop_index('ix_events_customer_id')

    op.drop_table('events')
