"""Tier tables and their arithmetic, shared by `tiered`, `volume` and `weighted_tiered`.

A tier with `up_to: 1000` holds the units (previous up_to, 1000]; the first tier starts at 0 and the last
has `up_to: null`, so every quantity falls in exactly one tier. The graduated amount is computed here
once: `weighted_tiered` is defined from it, and two copies could drift apart.
"""

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Self

from pydantic import BaseModel, model_validator

from meterflow.domain.money import unit_price_of
from meterflow.domain.pricing.base import STRICT_FROZEN, PositiveQuantity, PriceAmount, PriceBase, PriceError

_ZERO = Decimal(0)


class Tier(BaseModel):
    model_config = STRICT_FROZEN

    up_to: PositiveQuantity | None  # required: a missing up_to is an error, not "no upper bound"
    unit_price: PriceAmount
    flat_fee: PriceAmount = _ZERO

    @model_validator(mode="before")
    @classmethod
    def _accept_monigo_unit_amount(cls, data: Any) -> Any:
        """Monigo names a tier's price `unit_amount` (docs/monigo.md); given once, under either name."""
        if not isinstance(data, Mapping) or "unit_amount" not in data:
            return data
        if "unit_price" in data:
            raise ValueError("give the tier's price once, as unit_price or unit_amount")
        return {("unit_price" if key == "unit_amount" else key): value for key, value in data.items()}


class TieredPriceBase(PriceBase):
    """A price defined by a tier table; the table is checked as a whole once its tiers parse."""

    tiers: tuple[Tier, ...]

    @model_validator(mode="after")
    def _tiers_cover_every_quantity(self) -> Self:
        check_tiers(self.tiers)
        return self


def check_tiers(tiers: Sequence[Tier]) -> None:
    """Refuse a table that leaves a quantity without a tier, or puts one quantity in two tiers."""
    if not tiers:
        raise PriceError("tiers", "must hold at least one tier; the last one has up_to null")
    last = len(tiers) - 1
    for index, tier in enumerate(tiers[:-1]):
        if tier.up_to is None:
            raise PriceError(f"tiers[{index}].up_to", "only the last tier may have up_to null")
    if tiers[last].up_to is not None:
        raise PriceError(f"tiers[{last}].up_to", "the last tier must have up_to null, to hold every larger q")
    for index in range(1, last):
        previous, current = tiers[index - 1].up_to, tiers[index].up_to
        if previous is not None and current is not None and current <= previous:
            raise PriceError(
                f"tiers[{index}].up_to", f"must be greater than the previous tier's up_to ({previous})"
            )


def _lower_bounds(tiers: Sequence[Tier]) -> Iterator[Decimal]:
    # check_tiers guarantees only the last up_to is null, so this yields one bound per tier.
    yield _ZERO
    yield from (tier.up_to for tier in tiers if tier.up_to is not None)


def _tier_charge(tier: Tier, lower: Decimal, quantity: Decimal) -> Decimal:
    upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
    return (upper - lower) * tier.unit_price + tier.flat_fee


def graduated_amount(tiers: Sequence[Tier], quantity: Decimal) -> Decimal:
    """Each unit at the price of the tier it falls in; a tier's flat_fee once q enters that tier."""
    return sum(
        (
            _tier_charge(tier, lower, quantity)
            for tier, lower in zip(tiers, _lower_bounds(tiers), strict=True)
            if quantity > lower
        ),
        _ZERO,
    )


def tier_containing(tiers: Sequence[Tier], quantity: Decimal) -> Tier:
    """The tier whose range holds `quantity`; q = 0 is in the first tier."""
    return next(tier for tier in tiers if tier.up_to is None or quantity <= tier.up_to)


def effective_unit_price(amount: Decimal, quantity: Decimal) -> Decimal | None:
    """What one unit cost on average; None for q = 0, where no unit was bought to divide by."""
    return None if quantity == 0 else unit_price_of(amount, quantity)
