"""What the policies need to know of the field catalogue, as a protocol: the customers
package's catalogue satisfies it, and the policies never import the customers package (the
policies sit below it in the house)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

# The rule object that lets a role record (or clear) the end of a customer relationship.
RELATIONSHIP = "relationship"


class FieldLike(Protocol):
    @property
    def category(self) -> str: ...


class FieldCatalogue(Protocol):
    """Field names with their categories, the interaction kinds, and a version that every
    change of the catalogue replaces (compiled plans are cached per version)."""

    @property
    def fields(self) -> Mapping[str, FieldLike]: ...

    @property
    def interaction_kinds(self) -> Sequence[str]: ...

    @property
    def version(self) -> int: ...

    def __contains__(self, name: object) -> bool: ...
