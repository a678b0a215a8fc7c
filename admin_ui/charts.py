"""Charts drawn on the server as inline SVG: no script, nothing fetched, nothing the page's
Content-Security-Policy refuses (presentation attributes, never a style attribute). Each is
readable without colour: every bar carries its number as text or as its title, a second
series is hatched as well as lighter, and the template puts the figures beside each chart
as a table."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from markupsafe import Markup, escape

INK = "#1d2430"
MUTED = "#5b6575"
ACCENT = "#1f5fbf"
SECOND = "#c8d6ee"
WIDTH = 440  # narrow enough that the text stays legible at phone width
_ids = itertools.count(1)


def _label(text: str, x: float, y: float, *, anchor: str = "start", colour: str = INK) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="13" fill="{colour}" '
            f'text-anchor="{anchor}">{escape(text)}</text>')  # fmt: skip


def bars(title: str, items: Sequence[tuple[str, int]]) -> Markup:
    """A horizontal bar per (label, number), the number written after its bar."""
    row, left, room = 28, 160, 230
    height = max(1, len(items)) * row + 8
    most = max((value for _, value in items), default=0) or 1
    chart_id = f"chart-{next(_ids)}"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}">{escape(title)}: '
        f"{escape('; '.join(f'{label} {value}' for label, value in items))}</title>",
    ]
    for index, (label, value) in enumerate(items):
        top = index * row + 4
        length = room * value / most
        parts.append(_label(label, left - 10, top + 17, anchor="end"))
        parts.append(f'<rect x="{left}" y="{top + 4}" width="{length:.1f}" height="18" '
                     f'fill="{ACCENT}"><title>{escape(label)}: {value}</title></rect>')  # fmt: skip
        parts.append(_label(str(value), left + length + 6, top + 17))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text in it went through escape)


def daily(title: str, days: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]) -> Markup:
    """Bars per day for one or two series (the second hatched), with the highest number on
    the axis, the first, middle and last days under it, and a legend."""
    top, bottom, left, right = 12, 130, 36, WIDTH - 8
    height = bottom + 54
    most = max((v for _, values in series for v in values), default=0) or 1
    slot = (right - left) / max(1, len(days))
    width = max(1.0, slot * 0.8 / max(1, len(series)))
    chart_id = f"chart-{next(_ids)}"
    hatch = f"{chart_id}-hatch"
    fills = [ACCENT, f"url(#{hatch})"]
    totals = "; ".join(f"{name} {sum(values)}" for name, values in series)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}">{escape(title)}, {escape(days[0] if days else "")} to '
        f"{escape(days[-1] if days else '')}: {escape(totals)}</title>",
        f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{SECOND}"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{INK}" stroke-width="2"/></pattern></defs>',
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{MUTED}"/>',
        _label(str(most), left - 6, top + 10, anchor="end", colour=MUTED),
        _label("0", left - 6, bottom, anchor="end", colour=MUTED),
    ]
    for number, day in enumerate(days):
        for which, (name, values) in enumerate(series):
            value = values[number]
            tall = (bottom - top) * value / most
            x = left + number * slot + slot * 0.1 + which * width
            parts.append(
                f'<rect x="{x:.1f}" y="{bottom - tall:.1f}" width="{width:.1f}" '
                f'height="{tall:.1f}" fill="{fills[which % 2]}" stroke="{INK}" '
                f'stroke-width="{0.6 if which else 0}"><title>{escape(day)}: {value} '
                f"{escape(name)}</title></rect>"
            )
    for number in sorted({0, len(days) // 2, len(days) - 1} if days else set()):
        x, anchor = left + number * slot + slot / 2, "middle"
        if number == len(days) - 1 and number:  # the last day's label ends at its bar
            x, anchor = left + (number + 1) * slot, "end"
        parts.append(_label(days[number][5:], x, bottom + 18, anchor=anchor, colour=MUTED))
    x = left
    for which, (name, _values) in enumerate(series):
        parts.append(f'<rect x="{x}" y="{bottom + 32}" width="14" height="14" '
                     f'fill="{fills[which % 2]}" stroke="{INK}" stroke-width="0.6"/>')  # fmt: skip
        parts.append(_label(name, x + 20, bottom + 44))
        x += 40 + 8 * len(name)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text in it went through escape)
