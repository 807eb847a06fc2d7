"""One event validation for both ingest paths: fields, sizes, and the acceptance window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import simplejson

from meterflow.domain.events import (
    AcceptancePolicy,
    EventRejected,
    decode_json,
    event_to_json,
    numeric_property,
    parse_event,
)

NOW = datetime(2026, 2, 25, 10, tzinfo=UTC)
POLICY = AcceptancePolicy(window=timedelta(days=7), future_tolerance=timedelta(minutes=5))


def raw(**fields: object) -> dict[str, object]:
    return {"event_name": "api_call", "customer_id": "cus_1", "idempotency_key": "k1", **fields}


def test_missing_timestamp_means_received_at() -> None:
    assert parse_event(raw(), NOW, POLICY).timestamp == NOW


@pytest.mark.parametrize("zero", [None, "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z",
                                  "0001-01-01T00:00:00+00:00"])
def test_null_or_zero_timestamp_means_received_at_and_null_properties_mean_none(zero: str | None) -> None:
    """What Monigo's Go client sends when the caller sets neither (docs/monigo.md)."""
    event = parse_event(raw(timestamp=zero, properties=None), NOW, POLICY)
    assert (event.timestamp, event.properties) == (NOW, {})


def test_a_year_one_time_that_is_not_the_zero_time_is_too_old() -> None:
    with pytest.raises(EventRejected) as caught:
        parse_event(raw(timestamp="0001-01-01T00:00:01Z"), NOW, POLICY)
    assert caught.value.param == "timestamp"


@pytest.mark.parametrize(("fields", "param"), [
    ({"idempotency_key": None}, "idempotency_key"),
    ({"idempotency_key": ""}, "idempotency_key"),
    ({"idempotency_key": "k" * 256}, "idempotency_key"),
    ({"event_name": ""}, "event_name"),
    ({"event_name": "e" * 129}, "event_name"),
    ({"timestamp": "2026-02-25T10:00:00"}, "timestamp"),
    ({"timestamp": (NOW + timedelta(minutes=5, seconds=1)).isoformat()}, "timestamp"),
    ({"timestamp": (NOW - timedelta(days=7, seconds=1)).isoformat()}, "timestamp"),
    ({"properties": {"blob": "x" * 9000}}, "properties"),
    ({"properties": [1]}, "properties"),
])
def test_each_fault_names_its_field(fields: dict[str, object], param: str) -> None:
    with pytest.raises(EventRejected) as caught:
        parse_event(raw(**fields), NOW, POLICY)
    assert caught.value.param == param


def test_window_edges_are_accepted() -> None:
    for at in (NOW + timedelta(minutes=5), NOW - timedelta(days=7)):
        assert parse_event(raw(timestamp=at.isoformat()), NOW, POLICY).timestamp == at


def test_numbers_keep_their_exact_text_through_kafka_json() -> None:
    event = parse_event(decode_json(b'{"event_name":"e","customer_id":"c","idempotency_key":"k",'
                                    b'"properties":{"gb":0.10000000000000001,"n":"12.5"}}'), NOW, POLICY)
    again = parse_event(decode_json(event_to_json(event)), NOW, POLICY)
    assert numeric_property(again, "gb") == Decimal("0.10000000000000001")
    assert numeric_property(again, "n") == Decimal("12.5")
    assert b'"gb":0.10000000000000001' in event_to_json(event)


@pytest.mark.parametrize(("properties", "param"), [
    (b'{"v": 1e9999999}', "properties.v"),
    (b'{"v": -1e18}', "properties.v"),
    (b'{"v": 1e-19}', "properties.v"),
    (b'{"a": {"b": [1e400]}}', "properties.a.b[0]"),
    (b'{"s": "a\\u0000b"}', "properties.s"),
    (b'{"k\\ud800": 1}', "properties.k\\ud800"),
    (b'{"a": [[[[[[[[1]]]]]]]]}', "properties.a[0][0][0][0][0][0][0]"),
])
def test_properties_outside_their_domain_name_the_value(properties: bytes, param: str) -> None:
    record = b'{"event_name":"e","customer_id":"c","idempotency_key":"k","properties":' + properties + b"}"
    with pytest.raises(EventRejected) as caught:
        parse_event(decode_json(record), NOW, POLICY)
    assert caught.value.param == param


@pytest.mark.parametrize(("fields", "param"), [
    ({"idempotency_key": "k\ud800"}, "idempotency_key"),
    ({"customer_id": "cus_\x00"}, "customer_id"),
    ({"event_name": "e\x00"}, "event_name"),
    ({"timestamp": 1772013600}, "timestamp"),
    ({"timestamp": "2026-02-25"}, "timestamp"),
    ({"timestamp": "0001-01-02T00:00:00Z"}, "timestamp"),  # the zero time itself means "received"
])
def test_text_and_timestamps_outside_their_domain_name_the_field(fields: dict[str, object], param: str) -> None:
    with pytest.raises(EventRejected) as caught:
        parse_event(raw(**fields), NOW, POLICY)
    assert caught.value.param == param


@pytest.mark.parametrize("record", [b'{"v": NaN}', b'{"v": Infinity}', b'{"v": -Infinity}', b"[" * 33 + b"]" * 33,
                                    b'{"v": "\xff"}'])
def test_the_decoder_refuses_what_is_not_exact_bounded_json(record: bytes) -> None:
    with pytest.raises(ValueError):
        decode_json(record)


def test_a_numeric_string_outside_the_value_domain_is_not_a_quantity() -> None:
    event = parse_event(raw(properties={"big": "1e9999999", "fine": "-12.5"}), NOW, POLICY)
    assert numeric_property(event, "big") is None
    assert numeric_property(event, "fine") == Decimal("-12.5")


@pytest.mark.parametrize(("text", "number"), [
    ("12.5", Decimal("12.5")), ("-2", Decimal(-2)), ("+1", Decimal(1)), ("1e3", Decimal(1000)),
    ("2.5E-1", Decimal("0.25")), ("007", Decimal(7)),
    ("1_000", None), (" 12 ", None), ("12\n", None), ("\u0661\u0662", None), ("\uff11", None), ("12.", None),
    (".5", None), ("1e", None), ("0x10", None), ("NaN", None), ("Infinity", None), ("", None), ("1 000", None),
    ("1e99999999999999999999", None)])
def test_a_numeric_string_is_json_number_shaped_ascii_and_nothing_else(text: str, number: Decimal | None) -> None:
    """`Decimal` reads underscores, blanks and any script's digits; a quantity is only what a JSON number
    could be (with an optional `+`), so `"1_000"` never bills 1,000."""
    event = parse_event(raw(properties={"v": text}), NOW, POLICY)
    assert numeric_property(event, "v") == number


@pytest.mark.parametrize("text", [
    b'{"event_name":"e","n":200,"s":"eu-west-1","t":true,"f":false,"z":null,"a":[1,[2,{"b":"c"}]]}',
    b'{"v": 1.5}', b'{"v": 1e400}', b'{"v": [1, {"w": 2e3}]}', b'{"v": 18446744073709551616}',
    b'{"v": -9223372036854775809}',
    b'{"v": 18446744073709551615}', b'{"v": -0}', b'{"a": 1, "a": 2}', b'{"k\\ud800": 1}', b'"text"', b"7",
    b'{"s": "\\u00e9\\u0000 \xc3\xa9"}', b'[0.10000000000000001]', b"\xef\xbb\xbf[1]", b'[-1.50e-3, 1E+2, -0.0]',
    b'["\\ud800\\udc00"]', "{\"s\": \"\u00e9\"}",
])
def test_the_fast_reading_gives_exactly_what_the_exact_decoder_gives(text: bytes | str) -> None:
    """msgspec reads records first; its value must be simplejson's (Decimal for every fraction, the
    same integers and text, the last of duplicate keys), else simplejson's is taken."""
    expected = simplejson.loads(text, parse_float=Decimal)
    decoded = decode_json(text)
    assert decoded == expected
    assert repr(decoded) == repr(expected)  # same types too: 1.5 is Decimal("1.5"), never a float


@pytest.mark.parametrize("text", [b"[" + b"9" * 5000 + b"]", b'["a\x01"]', b'{"v": "\\ud800"', b"[1] 2", b""])
def test_what_the_fast_reading_refuses_is_refused_as_the_exact_decoder_refuses_it(text: bytes) -> None:
    with pytest.raises(ValueError) as exact:
        simplejson.loads(text.decode(), parse_float=Decimal)
    with pytest.raises(ValueError) as ours:
        decode_json(text)
    assert str(ours.value) == str(exact.value)


@pytest.mark.parametrize(("text", "number"), [
    ("999999999999999999", Decimal("999999999999999999")), ("-99999999999999999", Decimal("-99999999999999999")),
    ("0.00000000000000001", Decimal("1e-17")), ("9999999999999999999", None), ("1000000000000000000", None),
    ("0.0000000000000000001", None), ("1.5e17", Decimal("1.5e17")), ("1e18", None)])
def test_numeric_strings_short_enough_to_be_plain_and_those_that_need_the_domain_check(
        text: str, number: Decimal | None) -> None:
    """Up to 18 characters without an exponent a numeric string is read without the domain's closer
    look (it cannot leave it); a longer one, or one with an exponent, still gets it."""
    assert numeric_property(parse_event(raw(properties={"v": text}), NOW, POLICY), "v") == number


@pytest.mark.parametrize(("value", "number"), [
    (999999999999999999, Decimal("999999999999999999")), (10**18, None), (-(10**18), None),
    (Decimal("1e-18"), Decimal("1e-18")), (Decimal("1e-19"), None), (True, None)])
def test_json_numbers_inside_the_domain_are_quantities_and_others_are_not(value: object,
                                                                         number: Decimal | None) -> None:
    event = parse_event(raw(properties={"ok": 1}), NOW, POLICY).model_copy(update={"properties": {"v": value}})
    assert numeric_property(event, "v") == number
