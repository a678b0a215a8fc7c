"""CSV cells that spreadsheets open without running them (CSV or "formula" injection).

A cell starting with =, +, -, @, a tab or a carriage return is a formula to Excel and its
kin; such a cell is written with a leading apostrophe, which spreadsheets show as text.
Plain signed numbers (an amount, an E.164 phone number) cannot run and stay as they are.
"""

from __future__ import annotations

import re
from typing import Any

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet evaluates."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_STARTS):
        return value
    return value if _NUMBER.fullmatch(value) else "'" + value
