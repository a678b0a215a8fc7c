"""audit event MACs

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:30:00.000000

Every audit event now carries a MAC made when it is written. Events written before this
revision have none: those already sealed stay covered by their seals; those still unsealed
are sealed by the next `vault init` (which every upgrade runs), before anything else.
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


# Plain ALTERs, not a batch: rebuilding audit_events on SQLite would drop the table, and with
# it (ON DELETE CASCADE) every customer link of the audit trail.
def upgrade() -> None:
    op.add_column('audit_events', sa.Column('mac', sa.LargeBinary(length=48), nullable=True))


def downgrade() -> None:
    op.drop_column('audit_events', 'mac')
