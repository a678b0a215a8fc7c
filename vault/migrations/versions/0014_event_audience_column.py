"""the audience of an event in its own row

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 23:50:00.000000

Who may hear of an event (the purposes whose consent its customer had) moves from a table of
its own, one row per purpose written by a second INSERT ... SELECT, into a column of the
event written by the event's own INSERT: ",marketing,newsletter," ("," for none). Plain
ALTERs, not a batch: rebuilding events on SQLite would drop the table, and with it (ON
DELETE CASCADE) its deliveries and acknowledgements.
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('events', sa.Column('audience', sa.String(length=1000), server_default=',',
                                      nullable=False))
    connection = op.get_bind()
    listed = sa.text("SELECT event_seq, purpose FROM event_audience ORDER BY event_seq, purpose")
    purposes: dict[int, list[str]] = {}
    for seq, purpose in connection.execute(listed):
        purposes.setdefault(seq, []).append(purpose)
    if purposes:
        connection.execute(
            sa.text("UPDATE events SET audience = :audience WHERE seq = :seq"),
            [{"seq": seq, "audience": "," + ",".join(codes) + ","}
             for seq, codes in purposes.items()],
        )
    op.drop_table('event_audience')


def downgrade() -> None:
    op.create_table('event_audience',
    sa.Column('event_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['event_seq'], ['events.seq'], name=op.f('fk_event_audience_event_seq_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_seq', 'purpose', name=op.f('pk_event_audience'))
    )
    connection = op.get_bind()
    rows = [
        {"seq": seq, "purpose": purpose}
        for seq, audience in connection.execute(
            sa.text("SELECT seq, audience FROM events WHERE audience <> ','")
        )
        for purpose in sorted({p for p in audience.split(",") if p})
    ]
    if rows:
        connection.execute(
            sa.text("INSERT INTO event_audience (event_seq, purpose) VALUES (:seq, :purpose)"),
            rows,
        )
    op.drop_column('events', 'audience')
