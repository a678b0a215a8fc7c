"""customers: one packed column of encrypted values per customer instead of a row per value

A page of 100 customers then reads 100 rows instead of 1,100 (bench/records.py). Each value
stays its own AES-GCM ciphertext; existing values are moved over unchanged.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import struct

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _pack(entries: dict[str, bytes]) -> bytes:
    parts = [b"\x01"]
    for name in sorted(entries):
        encoded = name.encode()
        parts += [bytes([len(encoded)]), encoded, struct.pack(">I", len(entries[name])), entries[name]]
    return b"".join(parts)


def _unpack(payload: bytes) -> dict[str, bytes]:
    entries, offset = {}, 1
    while offset < len(payload):
        size = payload[offset]
        name = payload[offset + 1 : offset + 1 + size].decode()
        offset += 1 + size
        (length,) = struct.unpack_from(">I", payload, offset)
        entries[name] = payload[offset + 4 : offset + 4 + length]
        offset += 4 + length
    return entries


def upgrade() -> None:
    op.add_column("customers", sa.Column("sealed_values", sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    values = sa.table(
        "customer_values",
        sa.column("customer_id", sa.String),
        sa.column("field_name", sa.String),
        sa.column("ciphertext", sa.LargeBinary),
    )
    customers = sa.table("customers", sa.column("id", sa.String), sa.column("sealed_values", sa.LargeBinary))
    packed: dict[str, dict[str, bytes]] = {}
    for customer_id, field_name, ciphertext in connection.execute(sa.select(values)):
        packed.setdefault(customer_id, {})[field_name] = ciphertext
    for customer_id, entries in packed.items():
        connection.execute(
            sa.update(customers).where(customers.c.id == customer_id).values(sealed_values=_pack(entries))
        )
    op.drop_table("customer_values")


def downgrade() -> None:
    op.create_table(
        "customer_values",
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("field_name", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_customer_values_customer_id_customers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["field_name"], ["fields.name"], name=op.f("fk_customer_values_field_name_fields"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("customer_id", "field_name", name=op.f("pk_customer_values")),
    )
    connection = op.get_bind()
    customers = sa.table(
        "customers",
        sa.column("id", sa.String),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("sealed_values", sa.LargeBinary),
    )
    values = sa.table(
        "customer_values",
        sa.column("customer_id", sa.String),
        sa.column("field_name", sa.String),
        sa.column("ciphertext", sa.LargeBinary),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    rows = connection.execute(sa.select(customers).where(customers.c.sealed_values.is_not(None)))
    for customer_id, updated_at, payload in rows.all():
        entries = [
            {"customer_id": customer_id, "field_name": name, "ciphertext": blob, "updated_at": updated_at}
            for name, blob in _unpack(payload).items()
        ]
        if entries:
            connection.execute(sa.insert(values), entries)
    # A plain DROP COLUMN (SQLite 3.35+): a batch rebuild of "customers" would drop the old
    # table, and with foreign keys on that cascades into every table that refers to it.
    op.drop_column("customers", "sealed_values")
