"""Every time the API accepts stays within range once converted to UTC: one that would
overflow (the last second of year 9999 west of Greenwich, the first of year 1 east of it) is
a 422 naming the field, in a body and in an audit filter alike."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma
import pytest
from flask.testing import FlaskClient

from tests.helpers import assert_problem
from vault.api.times import EARLIEST, LATEST, AwareTime

OVERFLOWING = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"]
OUT_OF_RANGE = "must lie between 0001-01-02 and 9999-12-30 once in UTC"


@pytest.mark.parametrize("when", OVERFLOWING)
@pytest.mark.parametrize("name", ["since", "until"])
def test_an_audit_filter_that_overflows_is_422(
    client: FlaskClient, officer: dict[str, str], name: str, when: str
) -> None:
    response = client.get("/api/v1/audit/events", query_string={name: when}, headers=officer)
    assert assert_problem(response, 422, "validation_failed")["errors"] == {name: [OUT_OF_RANGE]}
    export = client.get(
        "/api/v1/audit/export", query_string={name: when, "format": "csv"}, headers=officer
    )
    assert assert_problem(export, 422, "validation_failed")["errors"] == {name: [OUT_OF_RANGE]}


@pytest.mark.parametrize("when", OVERFLOWING)
def test_a_relationship_end_that_overflows_is_422(
    client: FlaskClient, sales: dict[str, str], customer_id: str, when: str
) -> None:
    response = client.patch(
        f"/api/v1/customers/{customer_id}", json={"relationship_ended_at": when}, headers=sales
    )
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"] == {"relationship_ended_at": [OUT_OF_RANGE]}
    view = client.get(f"/api/v1/customers/{customer_id}", headers=sales).get_json()
    assert view["relationship_ended_at"] is None


@pytest.mark.parametrize("when", OVERFLOWING)
def test_an_interaction_time_that_overflows_is_422(
    client: FlaskClient, sales: dict[str, str], customer_id: str, when: str
) -> None:
    path = f"/api/v1/customers/{customer_id}/interactions"
    response = client.post(path, json={"kind": "purchase", "occurred_at": when}, headers=sales)
    assert assert_problem(response, 422, "validation_failed")["errors"] == {
        "occurred_at": [OUT_OF_RANGE]
    }
    assert client.get(path, headers=sales).get_json()["items"] == []


def test_a_time_with_an_offset_is_taken_as_its_utc_instant(
    client: FlaskClient, sales: dict[str, str], customer_id: str
) -> None:
    path = f"/api/v1/customers/{customer_id}/interactions"
    body = {"kind": "purchase", "occurred_at": "2026-01-01T10:00:00+14:00"}
    added = client.post(path, json=body, headers=sales)
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["occurred_at"] == "2025-12-31T20:00:00+00:00"


def test_a_far_but_representable_audit_filter_is_answered(
    client: FlaskClient, officer: dict[str, str]
) -> None:
    window = {"since": "0001-01-02T12:00:00+11:00", "until": "9999-12-30T00:00:00-11:00"}
    response = client.get("/api/v1/audit/events", query_string=window, headers=officer)
    assert response.status_code == 200, response.get_json()


def test_the_range_ends_a_day_inside_what_python_holds() -> None:
    class Times(ma.Schema):
        at = AwareTime()

    schema = Times()
    assert schema.load({"at": EARLIEST.isoformat()})["at"] == EARLIEST
    assert schema.load({"at": LATEST.isoformat()})["at"] == LATEST
    assert schema.load({"at": "2026-06-01T12:00:00-05:00"})["at"] == dt.datetime(
        2026, 6, 1, 17, tzinfo=dt.UTC
    )
    for outside in (EARLIEST - dt.timedelta(microseconds=1), LATEST + dt.timedelta(seconds=1)):
        with pytest.raises(ma.ValidationError) as refused:
            schema.load({"at": outside.isoformat()})
        assert refused.value.messages == {"at": [OUT_OF_RANGE]}
    with pytest.raises(ma.ValidationError):
        schema.load({"at": "2026-06-01T12:00:00"})  # no offset: not an instant
