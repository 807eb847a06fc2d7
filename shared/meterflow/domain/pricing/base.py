"""What every price model shares: the protocol pricing code depends on, the refusal, and exact field types.

Prices and quantities are parsed straight to `Decimal`. A JSON number arrives as an int or a float; a float
is read through its shortest text (`str(0.1)` is "0.1"), never through its binary value, and refused when
it carries more digits than a float holds faithfully, because then the number the client wrote is lost.
"""

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator

from meterflow.domain.errors import FieldError

PRICE_PLACES = 6
_FLOAT_SAFE_DIGITS = 15  # every decimal of up to 15 significant digits survives a trip through a double
# Bounds on any parsed number, far beyond real prices and tier sizes, so that a hostile "1E+999999999"
# is refused instead of being expanded into a billion digits.
_MAX_PLACES = 18
_TOO_LARGE = Decimal("1E+18")
_CALLER_KEYS = frozenset({"id", "metric_id"})  # belong to the plan, not to the pricing rule


class PriceError(FieldError):
    """A price definition that is refused; `param` is the faulty field's path from the price object."""


class PriceModel(Protocol):
    """The one interface of a price model; a module per model implements it and nothing else is needed."""

    def amount(self, quantity: Decimal) -> Decimal:
        """Exact, unrounded amount for `quantity`; rounding to money happens once, later."""
        ...

    def line_unit_price(self, quantity: Decimal) -> Decimal | None:
        """Unit price the invoice line shows for `quantity`, or None where no single price applies."""
        ...

    def describe(self) -> str:
        """Short human text for an invoice line."""
        ...


def _to_decimal(value: object) -> Decimal:
    # bool is an int in Python; `true` as a price is a client bug, not the number 1.
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError('must be a decimal number, as a string such as "2.50" or a JSON number')
    if isinstance(value, float) and len(Decimal(str(value)).as_tuple().digits) > _FLOAT_SAFE_DIGITS:
        raise ValueError(f"has more than {_FLOAT_SAFE_DIGITS} digits; send it as a decimal string")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f'must be a decimal number such as "2.50", not {value!r}') from None
    if not number.is_finite():
        raise ValueError("must be a finite decimal number")
    if number.copy_abs() >= _TOO_LARGE:
        raise ValueError(f"must be less than {_TOO_LARGE}")
    if -int(number.as_tuple().exponent) > _MAX_PLACES:
        raise ValueError(f"has more than {_MAX_PLACES} decimal places")
    return number


def _plain(value: Decimal) -> Decimal:
    """Same value written without exponent or sign of zero ("1E+3" -> "1000", "-0" -> "0"), for display."""
    return Decimal(format(value.copy_abs(), "f"))


def _price(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative; prices are decimals >= 0")
    # Counted as written: "2.0000000" has 7 places, like the float noise "0.30000000000000004".
    if -int(value.as_tuple().exponent) > PRICE_PLACES:
        raise ValueError(f"has more than {PRICE_PLACES} decimal places; prices allow at most {PRICE_PLACES}")
    return _plain(value)


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return _plain(value)


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return _plain(value)


_Decimal = Annotated[Decimal, BeforeValidator(_to_decimal)]
PriceAmount = Annotated[_Decimal, AfterValidator(_price)]
PositiveQuantity = Annotated[_Decimal, AfterValidator(_positive)]
NonNegativeQuantity = Annotated[_Decimal, AfterValidator(_non_negative)]


# Frozen, and strict about unknown keys: a misspelt optional field must not silently mean its default.
STRICT_FROZEN = ConfigDict(frozen=True, extra="forbid")


class PriceBase(BaseModel):
    """A price definition; the plan's own keys (id, metric_id) may travel with it and are dropped."""

    model_config = STRICT_FROZEN

    @model_validator(mode="before")
    @classmethod
    def _ignore_caller_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if key not in _CALLER_KEYS}
        return data


def lift_tiers_object(data: Any, renames: Mapping[str, str]) -> Any:
    """Monigo sends package/overage settings as a `tiers` object; rewrite it to our top-level fields."""
    if not isinstance(data, Mapping) or not isinstance(data.get("tiers"), Mapping):
        return data
    settings: Mapping[str, Any] = data["tiers"]
    rest = {key: value for key, value in data.items() if key != "tiers"}
    for key in settings:
        if key not in renames:
            raise PriceError(f"tiers.{key}", f"is not a setting here; allowed: {', '.join(renames)}")
        if renames[key] in rest:
            raise PriceError(f"tiers.{key}", f"is also given as {renames[key]}; give it once")
    return rest | {renames[key]: value for key, value in settings.items()}
