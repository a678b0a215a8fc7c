"""The end of a customer relationship: a retention trigger (anonymisation two years later with
the shipped rules), so who may record it is a permission of its own (the policy object
``relationship``) and how far back it may be dated is bounded."""

from __future__ import annotations

import datetime as dt

from vault.errors import Forbidden, ValidationFailed

FIELD = "relationship_ended_at"
# A client's clock may run a little ahead of ours: an end up to this far in the future is
# taken as now, anything later is refused.
CLOCK_SKEW = dt.timedelta(minutes=5)


def relationship_end(
    when: dt.datetime | None, *, may_record: bool, now: dt.datetime, backdate_days: int
) -> dt.datetime | None:
    """The end to record for ``when`` (``None``: the relationship goes on): ``when`` itself,
    or now for a time within the clock skew ahead. Raises ``Forbidden`` unless ``may_record``
    (the caller's plan allows ``relationship`` ``write``), and ``ValidationFailed`` naming
    ``relationship_ended_at`` for an end earlier than ``backdate_days`` before now or later
    than the clock skew after it."""
    if not may_record:
        raise Forbidden("you may not record the end of the relationship for this purpose")
    if when is None:
        return None
    if when < now - dt.timedelta(days=backdate_days):
        raise ValidationFailed(
            "the relationship end is dated too far back",
            errors={FIELD: [f"must be at most {backdate_days} days before now"]},
        )
    if when > now + CLOCK_SKEW:
        raise ValidationFailed(
            "the relationship end is in the future", errors={FIELD: ["must not be in the future"]}
        )
    return min(when, now)
