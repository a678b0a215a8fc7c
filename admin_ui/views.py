"""Log-in, log-out and the dashboard."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user

from admin_ui.forms import LoginForm, LogoutForm, entered
from admin_ui.navigation import menu_for
from vault import services
from vault.auth.service import LoginFailed, principal_for_user
from vault.auth.sessions import SESSION_TOKEN_KEY
from vault.extensions import limiter
from vault.logs import get_logger

blueprint = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
log = get_logger("vault.admin")


@blueprint.context_processor
def menu() -> dict[str, Any]:
    """The menu of the signed-in person (empty before log-in)."""
    if not current_user.is_authenticated:
        return {"menu": []}
    return {"menu": menu_for(principal_for_user(current_user))}


def _login_rate_limit() -> str:
    limit: str = current_app.config["VAULT_SETTINGS"].login_rate_limit
    return limit


def _safe_next(target: str | None) -> str:
    """Only a path on this site; anything else goes to the dashboard."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("admin.dashboard")


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("admin.dashboard"))
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        try:
            user = services.log_in(entered(form.email), entered(form.password))
        except LoginFailed as exc:
            log.info("login.failed", reason=exc.reason)
            error = exc.detail
            status = 401
        else:
            # Nothing from before the log-in survives it, and the session is a new one.
            session.clear()
            token = services.open_staff_session(user, principal_for_user(user))
            login_user(user)
            session[SESSION_TOKEN_KEY] = token
            log.info("login.succeeded", user_id=user.id)
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        error = "the form was incomplete or expired; try again"
        status = 400
    return render_template("admin/login.html", form=form, error=error), status


@blueprint.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    form = LogoutForm()
    if form.validate_on_submit():
        services.close_staff_session(session.get(SESSION_TOKEN_KEY),
                                     principal_for_user(current_user))  # fmt: skip
        logout_user()
        session.clear()
    return redirect(url_for("admin.login"))
