"""The baseline of ``bench/http.py``: what a Flask team would write instead of the vault, a
plain Flask + SQLAlchemy view that reads the same customer row (one SELECT in one
transaction) and answers it as JSON, with no authentication, policy, decryption or audit.

Served by gunicorn as ``bench.plain_app:create_app()`` over ``BENCH_PLAIN_DATABASE_URL``.
"""

from __future__ import annotations

import base64
import os

import sqlalchemy as sa
from flask import Flask, abort, jsonify
from flask.typing import ResponseReturnValue

customers = sa.table(
    "customers",
    sa.column("id"),
    sa.column("region"),
    sa.column("status"),
    sa.column("created_at"),
    sa.column("updated_at"),
    sa.column("sealed_values", sa.LargeBinary),
)


def create_app() -> Flask:
    app = Flask(__name__)
    engine = sa.create_engine(os.environ["BENCH_PLAIN_DATABASE_URL"], pool_size=4)

    @app.get("/customers/<customer_id>")
    def read(customer_id: str) -> ResponseReturnValue:
        with engine.begin() as connection:
            row = connection.execute(
                sa.select(customers).where(customers.c.id == customer_id)
            ).one_or_none()
        if row is None:
            abort(404)
        return jsonify(
            id=row.id,
            region=row.region,
            status=row.status,
            created_at=str(row.created_at),
            updated_at=str(row.updated_at),
            values=base64.b64encode(row.sealed_values or b"").decode(),
        )

    return app
