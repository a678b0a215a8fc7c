"""legal holds

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 09:36:19.314893
"""

from alembic import op
import sqlalchemy as sa
import vault.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('legal_holds',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('placed_by', sa.String(length=40), nullable=False),
    sa.Column('placed_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lifted_by', sa.String(length=40), nullable=True),
    sa.Column('lifted_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lift_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_legal_holds_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_holds'))
    )
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.create_index('ix_legal_holds_customer_id_lifted_at', ['customer_id', 'lifted_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_legal_holds_customer_id_lifted_at')

    op.drop_table('legal_holds')
