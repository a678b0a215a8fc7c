"""The admin web UI (``/admin``): log-in, dashboard and, in later releases, the governance
pages. Session cookies are HttpOnly, SameSite=Lax and Secure in production."""

from admin_ui.views import blueprint

__all__ = ["blueprint"]
