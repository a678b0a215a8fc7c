"""The admin web UI (``/admin``): log-in, dashboard, the scoped customer view and search,
governance pages (privacy requests, audit log, retention and legal holds, purposes, field
catalogue, roles and policies) with their changes as CSRF-checked forms, access requests
(ask, approve, deny), the webhook subscriptions of consumer systems, API clients and staff
users (admins). Session cookies are HttpOnly, SameSite=Lax and Secure in production."""

# their pages register themselves on the blueprint
from admin_ui import (  # noqa: F401
    access,
    actions,
    customers,
    dashboard,
    governance,
    people,
    subscriptions,
)
from admin_ui.views import blueprint

__all__ = ["blueprint"]
