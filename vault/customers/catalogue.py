"""The field catalogue: what a customer record may hold, each field's type, category,
sensitivity and search rules, and the validation and normalisation of its values.

Error messages name fields and rules, never the value that was refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import phonenumbers
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from vault.customers.models import FIELD_TYPES, INTERACTION_KINDS, SENSITIVITIES, FieldDefinition
from vault.errors import Conflict, ValidationFailed
from vault.logs import register_personal_keys
from vault.policies import versions
from vault.policies.catalogue import RELATIONSHIP

COUNTER = "catalogue"
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
MAX_LIST_ITEMS = 50
# Not a field: the end of the customer relationship (a retention trigger) is a policy object of
# its own (vault.policies.plan), so no field may take its name.


@dataclasses.dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: str
    category: str
    sensitivity: str
    searchable: bool = False
    unique: bool = False
    required: bool = False
    max_length: int = 200
    description: str = ""


DEFAULT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("given_name", "string", "identity", "medium", required=True, max_length=100,
              description="First or given name."),
    FieldSpec("family_name", "string", "identity", "medium", required=True, max_length=100,
              description="Last or family name."),
    FieldSpec("email", "email", "contact", "medium", searchable=True, unique=True, max_length=254,
              description="Email address; searchable and unique."),
    FieldSpec("phone", "phone", "contact", "medium", searchable=True, max_length=32,
              description="Phone number, stored in E.164; searchable."),
    FieldSpec("postal_address", "text", "contact", "medium", max_length=500,
              description="Postal address."),
    FieldSpec("birth_date", "date", "demographic", "high", max_length=10,
              description="Date of birth (ISO 8601)."),
    FieldSpec("national_id", "string", "sensitive", "special", max_length=64,
              description="National identity or tax number."),
    FieldSpec("job_title", "string", "profile", "low", max_length=100, description="Job title."),
    FieldSpec("company", "string", "profile", "low", max_length=200, description="Employer."),
    FieldSpec("interests", "string_list", "profile", "low", max_length=50,
              description="Interests, up to 50 of up to 50 characters."),
)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Normalised:
    """A validated value: the text that is encrypted, and the blind-index input if any."""

    stored: str
    index_input: str | None


class Catalogue:
    """An immutable snapshot of the catalogue."""

    def __init__(self, specs: Iterable[FieldSpec], version: int = 0) -> None:
        self.fields: dict[str, FieldSpec] = {s.name: s for s in specs}
        self.version = version
        self.interaction_kinds: tuple[str, ...] = INTERACTION_KINDS

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def __getitem__(self, name: str) -> FieldSpec:
        return self.fields[name]

    @property
    def searchable(self) -> list[str]:
        return [n for n, s in self.fields.items() if s.searchable]

    def unknown(self, names: Iterable[str]) -> list[str]:
        return sorted(n for n in names if n not in self.fields)

    def validate(self, values: Mapping[str, Any], *, partial: bool) -> dict[str, Normalised | None]:
        """Normalise every value; ``None`` (in a partial update) removes the field.

        Raises ``ValidationFailed`` listing every bad field at once: unknown, wrong type,
        invalid, too long, or (unless ``partial``) required and missing.
        """
        errors: dict[str, list[str]] = {}
        result: dict[str, Normalised | None] = {}
        for name, raw in values.items():
            spec = self.fields.get(name)
            if spec is None:
                errors[name] = ["unknown field"]
            elif raw is None:
                if spec.required:
                    errors[name] = ["is required and cannot be removed"]
                elif not partial:
                    continue
                else:
                    result[name] = None
            else:
                try:
                    result[name] = normalise(spec, raw)
                except ValueError as exc:
                    errors[name] = [str(exc)]
        if not partial:
            for spec in self.fields.values():
                if spec.required and values.get(spec.name) is None and spec.name not in errors:
                    errors[spec.name] = ["is required"]
        if errors:
            raise ValidationFailed("some fields are invalid", errors=errors)
        return result


def _text(spec: FieldSpec, raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError("must be a string")
    value = raw.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > spec.max_length:
        raise ValueError(f"must be at most {spec.max_length} characters")
    return value


def normalise(spec: FieldSpec, raw: Any) -> Normalised:
    """Validate one value of ``spec``'s type. Raises ``ValueError`` with a message that does
    not quote the value."""
    if spec.type == "string_list":
        if not isinstance(raw, list) or len(raw) > MAX_LIST_ITEMS:
            raise ValueError(f"must be a list of at most {MAX_LIST_ITEMS} strings")
        items = [_text(spec, item) for item in raw]
        return Normalised(json.dumps(items, ensure_ascii=False), None)
    text = _text(spec, raw)
    if spec.type == "email":
        try:
            text = validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError:
            raise ValueError("must be a valid email address") from None
        return Normalised(text, text.lower() if spec.searchable else None)
    if spec.type == "phone":
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise ValueError("must be a valid phone number in international form (+country...)")
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return Normalised(text, text if spec.searchable else None)
    if spec.type == "date":
        try:
            text = dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError("must be an ISO 8601 date (YYYY-MM-DD)") from None
    return Normalised(text, text.casefold() if spec.searchable else None)


def normalise_search_input(spec: FieldSpec, raw: Any) -> str:
    """The blind-index input of a search term; raises ``ValidationFailed`` naming the field."""
    try:
        index_input = normalise(spec, raw).index_input
    except ValueError as exc:
        raise ValidationFailed(errors={spec.name: [str(exc)]}) from None
    if index_input is None:
        raise ValidationFailed(errors={spec.name: ["is not searchable"]})
    return index_input


# --- the catalogue in the database --------------------------------------------------------

_cache_lock = threading.Lock()
_cache: dict[str, Catalogue] = {}


def spec_of(row: FieldDefinition) -> FieldSpec:
    """The field a catalogue row defines (the row has a column for each of its attributes)."""
    return FieldSpec(**{f.name: getattr(row, f.name) for f in dataclasses.fields(FieldSpec)})


def load_catalogue(session: Session, *, stamp: int | None = None) -> Catalogue:
    """The current catalogue, cached in this process until a change replaces its stamp;
    ``stamp`` when the caller has read it already this request."""
    version = versions.current(session, COUNTER) if stamp is None else stamp
    key = versions.database_of(session)
    cached = _cache.get(key)
    if cached is not None and cached.version == version:
        return cached
    rows = session.scalars(sa.select(FieldDefinition).order_by(FieldDefinition.name))
    catalogue = Catalogue([spec_of(r) for r in rows], version)
    register_personal_keys(catalogue.fields)
    with _cache_lock:
        _cache[key] = catalogue
    return catalogue


def add_field(session: Session, spec: FieldSpec, *, builtin: bool = False) -> FieldDefinition:
    """Add a field to the catalogue. Raises ``ValidationFailed`` for a bad definition and
    ``Conflict`` when the name exists."""
    errors: dict[str, list[str]] = {}
    if not _NAME.match(spec.name):
        errors["name"] = [
            "must be 2-64 characters: a-z, digits, underscore, starting with a letter"
        ]
    if spec.name == RELATIONSHIP:
        errors["name"] = [f"{RELATIONSHIP!r} is reserved for the end of the relationship"]
    if spec.type not in FIELD_TYPES:
        errors["type"] = [f"must be one of {', '.join(FIELD_TYPES)}"]
    if not _CATEGORY.match(spec.category):
        errors["category"] = ["must be 2-32 characters: a-z, digits, underscore"]
    if spec.sensitivity not in SENSITIVITIES:
        errors["sensitivity"] = [f"must be one of {', '.join(SENSITIVITIES)}"]
    if not 0 < spec.max_length <= 10_000:
        errors["max_length"] = ["must be between 1 and 10000"]
    if spec.unique and not spec.searchable:
        errors["unique"] = ["a unique field must also be searchable"]
    if spec.searchable and spec.type in ("string_list", "text"):
        errors["searchable"] = ["lists and long texts cannot be searched exactly"]
    if spec.required and not builtin:
        errors["required"] = ["a new field cannot be required: existing customers lack it"]
    if errors:
        raise ValidationFailed("the field definition is invalid", errors=errors)
    if session.get(FieldDefinition, spec.name) is not None:
        raise Conflict(f"the field {spec.name!r} already exists", code="field_exists")
    row = FieldDefinition(**dataclasses.asdict(spec), builtin=builtin)
    session.add(row)
    session.flush()
    versions.bump(session, COUNTER)
    return row


def seed_catalogue(session: Session) -> list[str]:
    """Add the shipped fields that are missing; returns what it created."""
    existing = set(session.scalars(sa.select(FieldDefinition.name)))
    created = []
    for spec in DEFAULT_FIELDS:
        if spec.name not in existing:
            add_field(session, spec, builtin=True)
            created.append(f"created field {spec.name} ({spec.category})")
    return created
