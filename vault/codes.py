"""Code-shaped values: short lower-case identifiers (``web-form``, ``phone``, ``crm:eu``).

A consent's ``source`` and an interaction's ``channel`` stay beside anonymised data (the
facts without a person), so they must not be able to carry a name or an address: only values
of this shape are accepted.
"""

from __future__ import annotations

import re

CODE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
DESCRIPTION = "a code: 1 to 64 of a-z, 0-9 and _ . : - (starting with a letter or digit)"


def is_code(value: str) -> bool:
    """Whether ``value`` is code-shaped (``CODE``)."""
    return CODE.fullmatch(value) is not None
