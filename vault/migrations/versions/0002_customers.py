"""customers: catalogue, encrypted values, blind indexes, interactions, consent

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:02:13.892269
"""

from alembic import op
import sqlalchemy as sa
import vault.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('change_counters',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_change_counters'))
    )
    op.create_table('customers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('region', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_activity_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('erased_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('kek_version', sa.Integer(), nullable=True),
    sa.Column('dek_version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('active', 'erased')", name=op.f('ck_customers_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index('ix_customers_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_kek_version'), ['kek_version'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_region'), ['region'], unique=False)

    op.create_table('fields',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('sensitivity', sa.String(length=16), nullable=False),
    sa.Column('searchable', sa.Boolean(), nullable=False),
    sa.Column('unique', sa.Boolean(), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('max_length', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('builtin', sa.Boolean(), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("sensitivity IN ('low', 'medium', 'high', 'special')", name=op.f('ck_fields_sensitivity')),
    sa.CheckConstraint("type IN ('string', 'text', 'email', 'phone', 'date', 'string_list')", name=op.f('ck_fields_type')),
    sa.CheckConstraint('max_length > 0', name=op.f('ck_fields_max_length_positive')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_fields'))
    )
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fields_category'), ['category'], unique=False)

    op.create_table('blind_indexes',
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('field_name', sa.String(length=64), nullable=False),
    sa.Column('digest', sa.LargeBinary(length=32), nullable=False),
    sa.Column('unique_digest', sa.LargeBinary(length=32), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_blind_indexes_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['field_name'], ['fields.name'], name=op.f('fk_blind_indexes_field_name_fields'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('customer_id', 'field_name', name=op.f('pk_blind_indexes')),
    sa.UniqueConstraint('field_name', 'unique_digest', name=op.f('uq_blind_indexes_field_name_unique_digest'))
    )
    with op.batch_alter_table('blind_indexes', schema=None) as batch_op:
        batch_op.create_index('ix_blind_indexes_field_name_digest', ['field_name', 'digest'], unique=False)

    op.create_table('consent_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('purpose_code', sa.String(length=64), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('occurred_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('notice_version', sa.String(length=32), nullable=False),
    sa.Column('evidence_ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_consent_events_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['purpose_code'], ['purposes.code'], name=op.f('fk_consent_events_purpose_code_purposes'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_events'))
    )
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.create_index('ix_consent_events_customer_id_purpose_code', ['customer_id', 'purpose_code'], unique=False)

    op.create_table('customer_values',
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('field_name', sa.String(length=64), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('updated_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_values_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['field_name'], ['fields.name'], name=op.f('fk_customer_values_field_name_fields'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('customer_id', 'field_name', name=op.f('pk_customer_values'))
    )
    op.create_table('interactions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('occurred_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('text_ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('purchase', 'support_ticket', 'email', 'call', 'survey')", name=op.f('ck_interactions_kind')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_interactions_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_interactions'))
    )
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.create_index('ix_interactions_customer_id_occurred_at', ['customer_id', 'occurred_at'], unique=False)

    op.create_table('consent_states',
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('purpose_code', sa.String(length=64), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('updated_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_consent_states_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['consent_events.id'], name=op.f('fk_consent_states_event_id_consent_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['purpose_code'], ['purposes.code'], name=op.f('fk_consent_states_purpose_code_purposes'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('customer_id', 'purpose_code', name=op.f('pk_consent_states'))
    )
    with op.batch_alter_table('consent_states', schema=None) as batch_op:
        batch_op.create_index('ix_consent_states_purpose_code_granted', ['purpose_code', 'granted', 'customer_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('consent_states', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_states_purpose_code_granted')

    op.drop_table('consent_states')
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_index('ix_interactions_customer_id_occurred_at')

    op.drop_table('interactions')
    op.drop_table('customer_values')
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_events_customer_id_purpose_code')

    op.drop_table('consent_events')
    with op.batch_alter_table('blind_indexes', schema=None) as batch_op:
        batch_op.drop_index('ix_blind_indexes_field_name_digest')

    op.drop_table('blind_indexes')
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fields_category'))

    op.drop_table('fields')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_region'))
        batch_op.drop_index(batch_op.f('ix_customers_kek_version'))
        batch_op.drop_index('ix_customers_created_at_id')

    op.drop_table('customers')
    op.drop_table('change_counters')
