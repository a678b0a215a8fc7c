"""The audit log page: a page at a time in either direction, a date range, actors named
beside their ids, the filters kept in the URL and in the export links."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, log_in, write_events
from vault.audit.service import AuditContext, record_event
from vault.clock import FixedClock
from vault.db import db

ROW = re.compile(r'<tr class="(?:allowed|denied|error)">\s*<td data-label="#">(\d+)</td>')


def _ids(html: str) -> list[int]:
    return [int(i) for i in ROW.findall(html)]


def _link(html: str, label: str) -> str | None:
    found = re.search(rf'<a href="(\?[^"]*)"[^>]*>{label}</a>', html)
    return found[1].replace("&amp;", "&") if found else None


def test_paging_both_ways_dates_and_names(
    app: Flask, client: FlaskClient, make_user: Callable[..., str], clock: FixedClock
) -> None:
    officer_id = make_user("officer@example.com", roles=("compliance_officer",))
    start = clock.now() - dt.timedelta(days=3)
    with app.app_context():
        write_events(db.session, 130, start)  # 130 reads over two minutes, three days ago
        record_event(db.session, AuditContext("user", officer_id, "", "req-x", "127.0.0.1"),
                     action="legal_hold.create", outcome="allowed", now=clock.now())  # fmt: skip
        db.session.commit()
    assert log_in(client, "officer@example.com", PASSWORD).status_code == 302

    first = client.get("/admin/audit?action=customer.read").get_data(as_text=True)
    newest = _ids(first)
    assert len(newest) == 100
    assert newest == sorted(newest, reverse=True)
    assert _link(first, "Newer") is None
    older_link = _link(first, "Older")
    assert older_link is not None
    assert "action=customer.read" in older_link  # the filter goes along
    older = client.get(f"/admin/audit{older_link}").get_data(as_text=True)
    rest = _ids(older)
    assert len(rest) == 30
    assert max(rest) < min(newest)
    assert _link(older, "Older") is None
    newer_link = _link(older, "Newer")
    assert newer_link is not None
    back = client.get(f"/admin/audit{newer_link}").get_data(as_text=True)
    assert _ids(back) == newest

    # a date range: three days ago holds the reads, today the officer's own event
    day = start.date().isoformat()
    ranged = client.get(f"/admin/audit?since={day}&until={day}").get_data(as_text=True)
    assert len(_ids(ranged)) == 100
    assert "legal_hold.create" not in ranged
    today = clock.now().date().isoformat()
    own = client.get(f"/admin/audit?since={today}&action=legal_hold.create")
    html = own.get_data(as_text=True)
    assert '<span class="name">officer@example.com</span>' in html  # the actor, by name
    assert f"user:{officer_id}" in html
    assert f"since={today}T00:00:00" in html.replace("%3A", ":")  # the export takes the range
    bad = client.get("/admin/audit?since=yesterday")
    assert bad.status_code == 422
    assert 'id="filter-since-error"' in bad.get_data(as_text=True)
