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


def required_text(label: str, max_length: int) -> StringField:
    """A text field that must be filled in, with at most ``max_length`` characters."""
    return StringField(label, validators=[DataRequired(), Length(max=max_length)])


def id_field(label: str) -> StringField:
    """The id of a customer, a legal hold, a privacy request or a retention rule."""
    return required_text(label, 40)


def reason_field(label: str = "Reason") -> StringField:
    """Why a change is made, as its audit event and the customer are told."""
    return required_text(label, 500)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class LogoutForm(FlaskForm):
    """No fields: log-out is a POST that carries only the CSRF token."""


class AddRuleForm(FlaskForm):
    role = SelectField("Role", validators=[DataRequired()])
    obj = required_text("Field, category:<c>, interactions:<kind> or relationship", 64)
    purpose = SelectField("Purpose", validators=[DataRequired()])
    action = SelectField("Action", choices=["read", "write", "create"])
    effect = required_text("Effect (allow, deny, mask:<transform>)", 32)


class RemoveRuleForm(FlaskForm):
    rule_id = IntegerField("Rule #", validators=[DataRequired(), NumberRange(min=1)])


class OwnerForm(FlaskForm):
    category = required_text("Category", 32)
    owner_email = required_text("Owner's e-mail", 320)


class HoldForm(FlaskForm):
    customer_id = id_field("Customer id")
    reason = reason_field()


class LiftForm(FlaskForm):
    hold_id = id_field("Hold id")
    reason = reason_field()


class ExtendForm(FlaskForm):
    request_id = id_field("Request id")
    reason = reason_field("Reason given to the customer")


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
    rule_id = id_field("Rule")
    period_days = IntegerField(
        "Period (days)", validators=[InputRequired(), NumberRange(min=0, max=36_500)]
    )
    enabled = BooleanField("Enabled", default=True)


class FileRequestForm(FlaskForm):
    type = SelectField("Type", choices=list(PRIVACY_REQUEST_TYPES))
    customer_id = id_field("Customer id")
    channel = SelectField("Received by", choices=[c for c in PRIVACY_CHANNELS if c != "portal"])
    identity_check = SelectField(
        "Identity checked by", choices=[c for c in IDENTITY_CHECKS if c != "email_code"]
    )
