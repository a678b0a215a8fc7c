"""The cost of the request pipeline itself: request id, logging, transaction, and bearer-token
authentication, against a route that does no work."""

from __future__ import annotations

import io

from bench.harness import Context, Result, benchmark, median, timed
from vault.app import create_app
from vault.auth.service import create_api_client
from vault.db import db
from vault.logs import configure_logging


@benchmark("foundation")
def request_pipeline(context: Context) -> list[Result]:
    with context.sqlite_vault("foundation") as url:
        app = create_app(
            {
                "env": "testing",
                "database_url": url,
                "instance_path": str(context.workdir),
                "secret_key": "b" * 40,
            }
        )
        configure_logging("json", "WARNING", stream=io.StringIO())
        clock = app.extensions["vault.clock"]
        with app.app_context(), db.transaction() as session:
            _client, token = create_api_client(session, name="bench", role="sales", now=clock.now())
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(50):  # warm-up
            client.get("/healthz")
            client.get("/api/v1/me", headers=headers)
        bare = median(timed(lambda: client.get("/healthz"), repeat=500))
        authed = median(timed(lambda: client.get("/api/v1/me", headers=headers), repeat=500))
        db.state(app).engine.dispose()
    return [
        Result("foundation", "unauthenticated request (healthz), median", bare * 1e6, "µs"),
        Result("foundation", "token-authenticated request (/me), median", authed * 1e6, "µs"),
        Result("foundation", "authentication overhead ratio", authed / bare, "x"),
    ]
