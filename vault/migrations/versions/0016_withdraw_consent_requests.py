"""privacy requests that withdraw consent

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 03:05:00.000000

A customer may withdraw consents through the portal: a third request type,
``withdraw_consent``, and the purposes it names. No other table refers to privacy requests,
so SQLite's rebuild of the table (to change its CHECK) loses nothing.
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

OLD = "type IN ('export', 'erasure')"
NEW = "type IN ('export', 'erasure', 'withdraw_consent')"


def upgrade() -> None:
    with op.batch_alter_table('privacy_requests') as batch:
        batch.add_column(sa.Column('purposes', sa.String(length=400), server_default='', nullable=False))
        batch.drop_constraint(op.f('ck_privacy_requests_type'), type_='check')
        batch.create_check_constraint(op.f('ck_privacy_requests_type'), NEW)


def downgrade() -> None:
    op.execute("DELETE FROM privacy_requests WHERE type = 'withdraw_consent'")
    with op.batch_alter_table('privacy_requests') as batch:
        batch.drop_constraint(op.f('ck_privacy_requests_type'), type_='check')
        batch.create_check_constraint(op.f('ck_privacy_requests_type'), OLD)
        batch.drop_column('purposes')
