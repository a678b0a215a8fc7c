"""The field catalogue and the data owners of its categories: every staff member and client
may read the catalogue; admins extend it and assign owners; admins, compliance officers and
data owners see who owns what. Changes record their audit events in the caller's
transaction, each inside a savepoint (a refused change leaves nothing behind, and the
request's other work stands)."""

from __future__ import annotations

import dataclasses

from vault.auth.bound import CatalogueService
from vault.auth.service import find_user_by_email
from vault.customers.catalogue import Catalogue, FieldSpec, add_field, load_catalogue, spec_of
from vault.errors import ValidationFailed
from vault.governance.access_requests import owners, set_owner


@dataclasses.dataclass(frozen=True)
class CatalogueField:
    """A field of the catalogue and the data owner (a user id) of its category."""

    spec: FieldSpec
    owner: str | None


class CatalogueAdmin(CatalogueService[Catalogue]):
    """The field catalogue and its owners, as ``principal`` may read and change them."""

    OWNERS_READERS = ("admin", "compliance_officer", "data_owner")

    def fields(self) -> list[CatalogueField]:
        """The catalogue, by name, each field with its category's owner."""
        catalogue = load_catalogue(self.session)
        owner_of = owners(self.session)
        return [
            CatalogueField(catalogue[name], owner_of.get(catalogue[name].category))
            for name in sorted(catalogue.fields)
        ]

    def add_field(self, spec: FieldSpec) -> CatalogueField:
        """Add a field (admins). ``Conflict`` when the name exists, ``ValidationFailed`` for a
        bad definition."""
        self.principal.require_role("admin", because="only admins change the field catalogue")
        with self.session.begin_nested():
            row = add_field(self.session, spec)
            self.record("catalogue.change", field_names=[row.name])
        return CatalogueField(spec_of(row), owners(self.session).get(row.category))

    def owners(self) -> dict[str, str]:
        """category -> its data owner's user id."""
        self.principal.require_role(
            *self.OWNERS_READERS,
            because="ownership is for admins, compliance officers and data owners",
        )
        found = owners(self.session)
        self.record("ownership.read")
        return found

    def set_owner(self, category: str, user_id: str) -> dict[str, str]:
        """Make a data owner the owner of ``category`` (admins); returns the owners.
        ``ValidationFailed`` for an unknown category or a user who is no data owner."""
        self.principal.require_role("admin", because="admins assign data owners")
        with self.session.begin_nested():
            set_owner(self.session, self._catalogue(), category, user_id, now=self.now)
            self.record("ownership.change", reason=f"{category}:{user_id}")
        return owners(self.session)

    def set_owner_by_email(self, category: str, email: str) -> str:
        """The same for the staff user with this e-mail address; returns the user's id."""
        self.principal.require_role("admin", because="admins assign data owners")
        user = find_user_by_email(self.session, email)
        if user is None:
            raise ValidationFailed(errors={"owner_email": ["is not a staff user"]})
        self.set_owner(category, user.id)
        return user.id
