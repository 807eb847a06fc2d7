"""A plan's prices as the API receives them, checked into `PlanPrice`s: on create, and on update, where an item
with an `id` changes that price of the plan (the keys given replace its own) and an item without one adds a price.

Each price names a metric of the plan's mode and a definition pricing parses; a refusal names the item's field
(`prices[1].tiers[0].up_to`). Money is stored as decimal strings, whatever number form the client sent, so a
plan reads back as the API documents it; counts (`up_to`, `package_size`, `included_units`) are integers
Monigo's clients decode as such, so they keep the form they were given.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any

from meterflow.domain.catalog import PlanPrice
from meterflow.domain.errors import FieldError
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.pricing import PriceError, parse_price

_MONEY_FIELDS = frozenset({"unit_price", "unit_amount", "package_price", "base_price", "overage_price",
                           "flat_fee", "base_fee"})
Item = tuple[str, dict[str, Any]]  # a price's id (new or existing) and its definition as merged


def merged_items(raw_prices: Sequence[Mapping[str, Any]], existing: Sequence[PlanPrice]) -> list[Item]:
    """Each item with the id it writes: an existing price's (its stored keys under the ones given) or a new one."""
    by_id = {price.id: price for price in existing}
    return [_merged(raw, index, by_id) for index, raw in enumerate(raw_prices)]


def metric_ids_named(items: Sequence[Item]) -> set[str]:
    """The metrics the items name (read in one catalog call before `checked_prices`)."""
    return {m for _, raw in items if isinstance(m := raw.get("metric_id"), str)}


def checked_prices(items: Sequence[Item], mode: Mode, known_metrics: Collection[str],
                   existing: Sequence[PlanPrice] = ()) -> tuple[PlanPrice, ...]:
    """The plan's prices, each checked (its metric one of `known_metrics` of this mode, its definition): the
    existing ones in their order, updated where an item names them, then the new ones."""
    checked: dict[str, PlanPrice] = {}
    for index, (price_id, raw) in enumerate(items):
        metric_id = raw.get("metric_id")
        if not isinstance(metric_id, str) or metric_id not in known_metrics:
            raise FieldError(f"prices[{index}].metric_id", _no_metric(metric_id, mode))
        try:
            parse_price(raw)  # as sent, so that a refusal speaks of what the client sent
            checked[price_id] = PlanPrice.parse(
                price_id, metric_id, _decimal_strings({k: v for k, v in raw.items() if k not in {"id", "metric_id"}}))
        except PriceError as exc:
            raise FieldError(f"prices[{index}].{exc.param}" if exc.param else f"prices[{index}]",
                             exc.message) from None
    kept = [checked.pop(price.id, price) for price in existing]
    return (*kept, *checked.values())


def _merged(raw: Mapping[str, Any], index: int, existing: Mapping[str, PlanPrice]) -> Item:
    price_id = raw.get("id")
    if price_id is None:
        return new_id(IdKind.PRICE), dict(raw)
    if not isinstance(price_id, str) or price_id not in existing:
        raise FieldError(f"prices[{index}].id", f"no price {price_id!r} in this plan")
    old = existing[price_id]
    return price_id, {"metric_id": old.metric_id, **old.wire, **raw}


def _no_metric(metric_id: object, mode: Mode) -> str:
    """Why a price's `metric_id` names no metric of this mode (absent: "is required", never `None`)."""
    if metric_id is None:
        return "is required"
    if not isinstance(metric_id, str):
        return "must be a metric's id (a string)"
    return f"no metric {metric_id!r} in {mode} mode"


def _decimal_strings(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _decimal_strings(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimal_strings(v, key) for v in value]
    if key in _MONEY_FIELDS and isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return format(Decimal(str(value)), "f")
    return value
