"""``/api/v1/users``: admins list staff users (with their open sessions), create them, and
disable or enable them; a disabled user's sessions end at once. Each change is audited."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from vault import services
from vault.api.auth import current_principal
from vault.api.directory import not_cached, page_answer
from vault.api.idempotency import idempotent
from vault.api.schemas import ListQuerySchema, page_schema
from vault.auth.staff import StaffMember

blueprint = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Staff users")
blueprint.after_request(not_cached)


class UserSchema(ma.Schema):
    id = ma.fields.String()
    email = ma.fields.String()
    roles = ma.fields.List(ma.fields.String())
    active = ma.fields.Boolean()
    created_at = ma.fields.AwareDateTime()
    last_login_at = ma.fields.AwareDateTime(allow_none=True)
    open_sessions = ma.fields.Integer(metadata={"description": "sessions not ended or expired"})


UserPageSchema = page_schema("UserPageSchema", UserSchema)


class UserInSchema(ma.Schema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(max=320))
    password = ma.fields.String(required=True, load_only=True,
                                validate=ma.validate.Length(max=1000))  # fmt: skip
    roles = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=64)), required=True)


# What a user's answer takes from its row as it is (never the password hash).
_USER_COLUMNS = ("id", "email", "active", "created_at", "last_login_at")


def _user_dict(member: StaffMember) -> dict[str, Any]:
    user = member.user
    shown = {column: getattr(user, column) for column in _USER_COLUMNS}
    return {**shown, "roles": sorted(r.name for r in user.roles),
            "open_sessions": member.open_sessions}  # fmt: skip


@blueprint.get("")
@blueprint.arguments(ListQuerySchema, location="query", unknown=ma.RAISE)
@blueprint.response(200, UserPageSchema)
def get_users(args: dict[str, Any]) -> dict[str, Any]:
    """Staff users in id order, with their roles, state, last log-in and open sessions."""
    staff = services.staff(current_principal())
    return page_answer(args, staff.page, lambda m: m.user.id, _user_dict)


@blueprint.post("")
@idempotent
@blueprint.arguments(UserInSchema)
@blueprint.response(201, UserSchema)
def post_user(body: dict[str, Any]) -> dict[str, Any]:
    """Create a staff user; 422 for a bad email, a short password or an unknown role, 409
    for an email taken."""
    return _user_dict(services.staff(current_principal()).register(**body))


@blueprint.post("/<user_id>/disable")
@blueprint.response(200, UserSchema)
def post_disable(user_id: str) -> dict[str, Any]:
    """Disable a user: no log-in, and every session ends now; 409 ``last_admin`` for the
    last active admin."""
    return _user_dict(services.staff(current_principal()).disable(user_id))


@blueprint.post("/<user_id>/enable")
@blueprint.response(200, UserSchema)
def post_enable(user_id: str) -> dict[str, Any]:
    """Let a disabled user log in again."""
    return _user_dict(services.staff(current_principal()).enable(user_id))
