"""Properties of the pricing arithmetic, checked on generated prices and quantities."""

from decimal import ROUND_FLOOR, Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from meterflow.domain.money import round_money
from meterflow.domain.pricing import parse_price, price_line
from meterflow.domain.pricing.package import PackagePrice
from meterflow.domain.pricing.weighted_tiered import WeightedTieredPrice

prices = st.decimals(min_value=0, max_value=10_000, places=6)
quantities = st.decimals(min_value=0, max_value=10_000_000, places=3)
positive_sizes = st.decimals(min_value=Decimal("0.001"), max_value=100_000, places=3)


@st.composite
def tier_tables(draw: st.DrawFn) -> list[dict[str, Any]]:
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=1_000_000), max_size=5)))
    ups: list[Any] = [str(bound) for bound in bounds] + [None]
    return [{"up_to": up_to, "unit_price": str(draw(prices)), "flat_fee": str(draw(prices))} for up_to in ups]


@given(tier_tables(), quantities, quantities)
def test_graduated_amount_never_decreases_with_quantity(
    tiers: list[dict[str, Any]], a: Decimal, b: Decimal
) -> None:
    price = parse_price({"model": "tiered", "tiers": tiers})
    low, high = sorted((a, b))
    assert price.amount(low) <= price.amount(high)


@given(prices, quantities, st.sampled_from(["USD", "JPY", "KWD"]))
def test_one_tier_tiered_equals_one_tier_volume_equals_flat(
    unit_price: Decimal, quantity: Decimal, currency: str
) -> None:
    one_tier = [{"up_to": None, "unit_price": str(unit_price)}]
    amounts = {
        price_line(parse_price(raw), quantity, currency).amount
        for raw in (
            {"model": "tiered", "tiers": one_tier},
            {"model": "volume", "tiers": one_tier},
            {"model": "flat", "unit_price": str(unit_price)},
        )
    }
    assert amounts == {round_money(quantity * unit_price, currency)}


@given(positive_sizes, prices, quantities, st.booleans())
def test_package_amount_is_a_whole_number_of_packages(
    size: Decimal, package_price: Decimal, quantity: Decimal, round_up: bool
) -> None:
    price = PackagePrice(
        model="package", package_size=size, package_price=package_price, round_up_partial_block=round_up
    )
    packages = price.packages(quantity)
    assert packages == packages.to_integral_value() >= 0
    assert price.amount(quantity) == packages * package_price
    if round_up:  # the fewest packages that hold q
        assert (packages - 1) * size < quantity <= packages * size or packages == quantity == 0
    else:  # only complete packages
        assert packages * size <= quantity < (packages + 1) * size


@given(tier_tables(), quantities.filter(lambda q: q > 0))
def test_weighted_amount_is_quantity_times_the_shown_blended_price(
    tiers: list[dict[str, Any]], quantity: Decimal
) -> None:
    price = parse_price({"model": "weighted_tiered", "tiers": tiers})
    assert isinstance(price, WeightedTieredPrice)
    line = price_line(price, quantity, "USD")
    assert line.unit_price is not None
    assert line.amount == round_money(quantity * line.unit_price, "USD")


@given(
    st.decimals(min_value=0, max_value=10**12, places=8),
    st.sampled_from([("JPY", 0), ("USD", 2), ("KWD", 3)]),
)
def test_round_money_is_half_up_to_the_minor_unit(
    amount: Decimal, currency_exponent: tuple[str, int]
) -> None:
    currency, exponent = currency_exponent
    unit = Decimal(1).scaleb(-exponent)
    expected = ((amount / unit + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR)) * unit
    rounded = round_money(amount, currency)
    assert rounded == expected
    assert rounded.as_tuple().exponent == -exponent
