"""CSV exports cannot carry a formula into a spreadsheet."""

from __future__ import annotations

import pytest

from vault.spreadsheet import spreadsheet_safe


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tindented", "'\tindented"),
        ("+442079460958", "+442079460958"),  # a phone number is no formula
        ("-19.90", "-19.90"),
        ("Jeanne", "Jeanne"),
        (12, 12),
        (None, None),
    ],
)
def test_a_formula_is_written_as_text(value: object, written: object) -> None:
    assert spreadsheet_safe(value) == written
