"""What a metric definition must say: the property an aggregation reads."""

from __future__ import annotations

from meterflow.domain.errors import FieldError
from meterflow.domain.rollups import Aggregation


def aggregation_property_of(aggregation: Aggregation, name: str | None) -> str | None:
    """Every aggregation but `count` reads one property and must name it; `count` reads none, so a name
    given with it is dropped rather than stored as if it meant something."""
    if not aggregation.reads_property:
        return None
    if not name:
        raise FieldError("aggregation_property", f"is required for aggregation {aggregation.value!r}")
    return name
