"""What the vault takes as plain text: no C0 or C1 control character, no bidirectional
override or isolate, no unpaired surrogate. Long prose that people write (an interaction's
text, a justification, a reason) may also hold tabs and line breaks.

Why these: NUL cannot be stored by PostgreSQL; an unpaired surrogate cannot be encoded as
UTF-8, so nothing can store, log or send it; other controls rewrite terminals and split log
lines, CSV cells and mail headers; the bidirectional overrides and isolates make a text read
differently from what it holds (a customer id or a purpose that looks like another).
"""

from __future__ import annotations

import re

# The characters ``\t``, ``\n`` and ``\r`` are left out here and added below: line breaks
# are content in prose, and nowhere else.
_ALWAYS_REFUSED = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
UNSAFE_IN_PROSE = re.compile(f"[{_ALWAYS_REFUSED}]")
UNSAFE = re.compile(f"[{_ALWAYS_REFUSED}\t\n\r]")


def is_plain(text: str, *, prose: bool = False) -> bool:
    """Whether ``text`` holds none of the refused characters (``prose`` admits tabs and line
    breaks)."""
    return (UNSAFE_IN_PROSE if prose else UNSAFE).search(text) is None
