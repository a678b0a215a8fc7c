"""sealed notes: access-request justifications and legal-hold reasons encrypted at rest

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 21:00:00.000000

The ciphertext columns are added and the plaintext ones become nullable: they keep the rows
written before (still readable as they are) until `vault init`, which holds the key, seals
them. A migration holds no key, so it neither seals nor opens a note: a downgrade is refused
while sealed notes exist (it would lose them).
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('justification_ciphertext', sa.LargeBinary(), nullable=True))
        batch_op.alter_column('justification', existing_type=sa.String(length=1000), nullable=True)

    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason_ciphertext', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('lift_reason_ciphertext', sa.LargeBinary(), nullable=True))
        batch_op.alter_column('reason', existing_type=sa.String(length=500), nullable=True)


def downgrade() -> None:
    connection = op.get_bind()
    sealed = connection.scalar(sa.text(
        "SELECT (SELECT count(*) FROM access_requests WHERE justification_ciphertext IS NOT NULL)"
        " + (SELECT count(*) FROM legal_holds WHERE reason_ciphertext IS NOT NULL"
        " OR lift_reason_ciphertext IS NOT NULL)"
    ))
    if sealed:
        raise RuntimeError(
            f"{sealed} access requests or legal holds hold sealed notes, which the schema"
            " before 0012 cannot keep: a downgrade would lose them"
        )
    # a hold whose reasons went with its customer's erasure keeps an empty reason
    op.execute("UPDATE access_requests SET justification = '' WHERE justification IS NULL")
    op.execute("UPDATE legal_holds SET reason = '' WHERE reason IS NULL")
    with op.batch_alter_table('legal_holds', schema=None) as batch_op:
        batch_op.alter_column('reason', existing_type=sa.String(length=500), nullable=False)
        batch_op.drop_column('lift_reason_ciphertext')
        batch_op.drop_column('reason_ciphertext')

    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        batch_op.alter_column('justification', existing_type=sa.String(length=1000), nullable=False)
        batch_op.drop_column('justification_ciphertext')
