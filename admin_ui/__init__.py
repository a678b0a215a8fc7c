"""The admin web UI (``/admin``): log-in, dashboard, the scoped customer view and search,
governance pages (privacy requests, audit log, retention and legal holds, purposes, field
catalogue, roles and policies) with their changes as CSRF-checked forms, and access requests
(ask, approve, deny). Session cookies are HttpOnly, SameSite=Lax and Secure in production."""

from admin_ui import access, actions, customers, governance  # noqa: F401  (their pages)
from admin_ui.views import blueprint

__all__ = ["blueprint"]
