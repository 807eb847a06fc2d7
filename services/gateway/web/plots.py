"""What a plot shows, as data: the bucket starts and one series of exact figures per line. The page
draws it with uPlot and prints the same figures in a table beside it, so the numbers are readable
without the canvas (screen readers, copy and paste) and never rounded by the chart.

Figures travel to the browser as decimal text: the chart parses them for drawing only; the table shows
the text as it is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class Series:
    """One line of a plot: its label and one figure per bucket (None where nothing was measured)."""

    label: str
    values: Sequence[Decimal | int | None]


def figure_text(value: Decimal | int | None) -> str:
    """Exact text of a figure: a Decimal keeps its digits (no exponent), None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    return str(value)


def plot_payload(series: Sequence[Series], buckets: Sequence[datetime],
                 span: tuple[datetime, datetime] | None = None) -> dict[str, object]:
    """The plot's data for plots.js: x as Unix seconds (uPlot's time axis), y as decimal text. `span`, when
    given, is the time axis's whole range (a period drawn to its end, though its buckets stop at now)."""
    for line in series:
        if len(line.values) != len(buckets):
            raise ValueError(f"series {line.label!r} has {len(line.values)} figures for {len(buckets)} buckets")
    return {"x": [int(bucket.timestamp()) for bucket in buckets],
            "series": [{"label": line.label, "y": [figure_text(v) for v in line.values]} for line in series],
            "span": [int(edge.timestamp()) for edge in span] if span else None}
