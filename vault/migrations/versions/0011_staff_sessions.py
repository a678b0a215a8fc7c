"""staff sessions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 21:10:00.000000
"""

from alembic import op
import sqlalchemy as sa
import vault.db


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_reason', sa.String(length=16), nullable=True),
    sa.CheckConstraint("ended_reason IN ('logout', 'user_disabled')", name=op.f('ck_staff_sessions_ended_reason')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_staff_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_sessions'))
    )
    op.create_index('ix_staff_sessions_user_id_ended_at', 'staff_sessions', ['user_id', 'ended_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_staff_sessions_user_id_ended_at', table_name='staff_sessions')
    op.drop_table('staff_sessions')
