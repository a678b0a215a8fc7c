"""Admin UI forms; flask-wtf adds and checks the CSRF token on each."""

from __future__ import annotations

import sqlalchemy as sa
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import EmailField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from vault.auth.models import Role
from vault.governance.models import Purpose


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class LogoutForm(FlaskForm):
    """No fields: log-out is a POST that carries only the CSRF token."""


class AddRuleForm(FlaskForm):
    role = SelectField("Role", validators=[DataRequired()])
    obj = StringField("Field, category:<c> or interactions:<kind>",
                      validators=[DataRequired(), Length(max=64)])  # fmt: skip
    purpose = SelectField("Purpose", validators=[DataRequired()])
    action = SelectField("Action", choices=["read", "write", "create"])
    effect = StringField("Effect (allow, deny, mask:<transform>)",
                         validators=[DataRequired(), Length(max=32)])  # fmt: skip


class RemoveRuleForm(FlaskForm):
    rule_id = IntegerField("Rule #", validators=[DataRequired(), NumberRange(min=1)])


class OwnerForm(FlaskForm):
    category = StringField("Category", validators=[DataRequired(), Length(max=32)])
    owner_email = StringField("Owner's e-mail", validators=[DataRequired(), Length(max=320)])


class HoldForm(FlaskForm):
    customer_id = StringField("Customer id", validators=[DataRequired(), Length(max=40)])
    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])


class LiftForm(FlaskForm):
    hold_id = StringField("Hold id", validators=[DataRequired(), Length(max=40)])
    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])


class ExtendForm(FlaskForm):
    request_id = StringField("Request id", validators=[DataRequired(), Length(max=40)])
    reason = StringField("Reason given to the customer",
                         validators=[DataRequired(), Length(max=500)])  # fmt: skip


def rule_form(session: Session) -> AddRuleForm:
    """The add-rule form with the roles and purposes that exist as its choices."""
    form = AddRuleForm()
    form.role.choices = list(session.scalars(sa.select(Role.name).order_by(Role.name)))
    form.purpose.choices = list(session.scalars(sa.select(Purpose.code).order_by(Purpose.code)))
    return form
