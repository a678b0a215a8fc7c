"""Admin UI forms; flask-wtf adds and checks the CSRF token on each."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from vault import services
from vault.customers.models import FIELD_TYPES, SENSITIVITIES
from vault.governance.models import IDENTITY_CHECKS, PRIVACY_CHANNELS, PRIVACY_REQUEST_TYPES
from vault.policies.models import LEGAL_BASES


def entered(field: Field) -> str:
    """What was typed into a text field, as it was typed ("" when nothing was)."""
    data: str | None = field.data
    return data or ""


def trimmed(field: Field) -> str:
    """What was typed into a text field, without the whitespace around it."""
    return entered(field).strip()


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class LogoutForm(FlaskForm):
    """No fields: log-out is a POST that carries only the CSRF token."""


class AddRuleForm(FlaskForm):
    role = SelectField("Role", validators=[DataRequired()])
    obj = StringField("Field, category:<c>, interactions:<kind> or relationship",
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


def rule_form() -> AddRuleForm:
    """The add-rule form with the roles and purposes that exist as its choices."""
    form = AddRuleForm()
    form.role.choices, form.purpose.choices = services.policy_choices()
    return form


class FieldForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(min=2, max=64)])
    type = SelectField("Type", choices=list(FIELD_TYPES))
    category = StringField("Category", validators=[DataRequired(), Length(min=2, max=32)])
    sensitivity = SelectField("Sensitivity", choices=list(SENSITIVITIES))
    searchable = BooleanField("Searchable")
    unique = BooleanField("Unique")
    max_length = IntegerField("Max length", default=200,
                              validators=[NumberRange(min=1, max=10_000)])  # fmt: skip


class PurposeForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(min=2, max=64)])
    legal_basis = SelectField("Legal basis", choices=list(LEGAL_BASES))
    description = StringField("Description", validators=[Length(max=500)])


class RetentionChangeForm(FlaskForm):
    rule_id = StringField("Rule", validators=[DataRequired(), Length(max=40)])
    period_days = IntegerField(
        "Period (days)", validators=[InputRequired(), NumberRange(min=0, max=36_500)]
    )
    enabled = BooleanField("Enabled", default=True)


class FileRequestForm(FlaskForm):
    type = SelectField("Type", choices=list(PRIVACY_REQUEST_TYPES))
    customer_id = StringField("Customer id", validators=[DataRequired(), Length(max=40)])
    channel = SelectField("Received by", choices=[c for c in PRIVACY_CHANNELS if c != "portal"])
    identity_check = SelectField(
        "Identity checked by", choices=[c for c in IDENTITY_CHECKS if c != "email_code"]
    )
