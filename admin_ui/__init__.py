"""The admin web UI (``/admin``): log-in, dashboard, the scoped customer view and search,
read-only governance pages (privacy requests, audit log, retention and legal holds, purposes,
field catalogue, roles and policies) and access requests (ask, approve, deny). Session
cookies are HttpOnly, SameSite=Lax and Secure in production."""

from admin_ui import access, customers, governance  # noqa: F401  (register their pages)
from admin_ui.views import blueprint

__all__ = ["blueprint"]
