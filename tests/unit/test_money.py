"""ISO 4217 exponents and the one rounding rule: once, half-up, to the currency's minor unit."""

from decimal import Decimal

import pytest

from meterflow.domain.currencies import MINOR_UNIT_EXPONENTS
from meterflow.domain.money import (
    UnknownCurrency,
    is_known_currency,
    minor_unit_exponent,
    quantize_unit_price,
    round_money,
    unit_price_of,
)


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [
        ("NGN", 2),
        ("USD", 2),
        ("EUR", 2),
        ("JPY", 0),
        ("ISK", 0),
        ("KRW", 0),
        ("XOF", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("TND", 3),
        ("CLF", 4),
        ("UYW", 4),
    ],
)
def test_exponent(currency: str, exponent: int) -> None:
    assert minor_unit_exponent(currency) == exponent
    assert is_known_currency(currency)


def test_the_table_is_the_whole_active_list() -> None:
    assert len(MINOR_UNIT_EXPONENTS) >= 150
    assert all(len(code) == 3 and code.isascii() and code.isupper() for code in MINOR_UNIT_EXPONENTS)
    assert set(MINOR_UNIT_EXPONENTS.values()) == {0, 2, 3, 4}
    assert {"XCG", "ZWG", "SLE", "VES", "VED", "MRU", "STN"} <= MINOR_UNIT_EXPONENTS.keys()


@pytest.mark.parametrize(
    "code",
    ["XYZ", "usd", "", "US", "HRK", "ZWL", "VEF", "XAU", "XDR", "XXX", "XTS"],
    ids=[
        "made up",
        "lower case",
        "empty",
        "too short",
        "withdrawn HRK",
        "withdrawn ZWL",
        "withdrawn VEF",
        "gold has no minor unit",
        "SDR has no minor unit",
        "no currency",
        "test code",
    ],
)
def test_unknown_currency_is_refused(code: str) -> None:
    assert not is_known_currency(code)
    with pytest.raises(UnknownCurrency, match="unknown currency"):
        minor_unit_exponent(code)
    with pytest.raises(ValueError):
        round_money(Decimal(1), code)


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("4", "NGN", "4.00"),
        ("0.045", "USD", "0.05"),
        ("0.044999", "USD", "0.04"),
        ("13.125", "USD", "13.13"),
        ("1.5", "JPY", "2"),
        ("2.5", "JPY", "3"),  # half-up, not banker's rounding
        ("0.49", "JPY", "0"),
        ("0.00875", "KWD", "0.009"),
        ("0.0005", "KWD", "0.001"),
        ("1.00005", "CLF", "1.0001"),
        ("0", "USD", "0.00"),
        ("123456789012345678901234567890.125", "USD", "123456789012345678901234567890.13"),
    ],
)
def test_round_money(amount: str, currency: str, rounded: str) -> None:
    assert str(round_money(Decimal(amount), currency)) == rounded


@pytest.mark.parametrize(
    ("value", "quantized"),
    [("1.8333333", "1.833333"), ("1.8333335", "1.833334"), ("6", "6.000000"), ("0.0000005", "0.000001")],
)
def test_quantize_unit_price(value: str, quantized: str) -> None:
    assert str(quantize_unit_price(Decimal(value))) == quantized


@pytest.mark.parametrize(
    ("amount", "quantity", "unit_price"),
    [
        ("5.5", "3", "1.833333"),
        ("36000", "6000", "6.000000"),
        ("10", "3", "3.333333"),
        ("20", "3", "6.666667"),
        ("0.0000025", "1", "0.000003"),  # an exact half-way quotient rounds up
        ("1", "7", "0.142857"),
    ],
)
def test_unit_price_of(amount: str, quantity: str, unit_price: str) -> None:
    assert str(unit_price_of(Decimal(amount), Decimal(quantity))) == unit_price
