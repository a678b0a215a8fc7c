"""answers kept for Idempotency-Key

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 02:00:00.000000

The first answer to a creating request sent with an Idempotency-Key, per principal and key
(the key as a SHA-256 digest), sealed under a key derived from the master key; and which
customers each answer is about, so that an erasure deletes the answers that name them.
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('idempotent_answers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('principal_id', sa.String(length=64), nullable=False),
    sa.Column('key_digest', sa.String(length=64), nullable=False),
    sa.Column('request_digest', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('answer', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotent_answers')),
    sa.UniqueConstraint('principal_id', 'key_digest', name=op.f('uq_idempotent_answers_principal_id_key_digest'))
    )
    op.create_index('ix_idempotent_answers_created_at', 'idempotent_answers', ['created_at'], unique=False)
    op.create_table('idempotent_answer_customers',
    sa.Column('answer_id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['answer_id'], ['idempotent_answers.id'], name=op.f('fk_idempotent_answer_customers_answer_id_idempotent_answers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_idempotent_answer_customers_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('answer_id', 'customer_id', name=op.f('pk_idempotent_answer_customers'))
    )
    op.create_index('ix_idempotent_answer_customers_customer_id', 'idempotent_answer_customers', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_idempotent_answer_customers_customer_id', table_name='idempotent_answer_customers')
    op.drop_table('idempotent_answer_customers')
    op.drop_index('ix_idempotent_answers_created_at', table_name='idempotent_answers')
    op.drop_table('idempotent_answers')
