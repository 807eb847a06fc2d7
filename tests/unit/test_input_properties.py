"""Property tests of the input domains: whatever a client sends, parsing ends in a value inside its
domain or in a refusal naming the field, and never in any other exception."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterflow.domain.events import (
    AcceptancePolicy,
    EventRejected,
    decode_json,
    decode_json_cutting_deep,
    encode_json,
    encode_json_fast,
    numeric_property,
    parse_event,
)
from meterflow.domain.inputs import METADATA, json_number_fault, metadata_fault
from meterflow.domain.json_values import cut_deep, is_plain_number, json_fault, nesting_depth
from meterflow.domain.quantities import decimal_places, value_fault

NOW = datetime(2026, 2, 25, 10, tzinfo=UTC)
POLICY = AcceptancePolicy(window=timedelta(days=7), future_tolerance=timedelta(minutes=5))
JSON_NUMBERS = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.builds(lambda m, e: f"{m}e{e}", st.integers(-10**20, 10**20), st.integers(-10**7, 10**7)),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30)


def record(properties: str) -> bytes:
    return ('{"event_name":"e","customer_id":"c","idempotency_key":"k","properties":' + properties + "}").encode()


@settings(max_examples=400, deadline=None)
@given(JSON_NUMBERS)
def test_any_json_number_is_a_value_in_domain_or_refused_with_its_param(number: str) -> None:
    try:
        raw = decode_json(record('{"v": ' + number + "}"))
    except ValueError:
        return  # not JSON a client can send (an integer beyond the parser's digit limit)
    try:
        event = parse_event(raw, NOW, POLICY)
    except EventRejected as exc:
        assert exc.param == "properties.v"
        assert value_fault(Decimal(number)) is not None
        return
    value = numeric_property(event, "v")
    assert value is not None and value_fault(value) is None
    assert value == Decimal(number)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_the_decoder_raises_nothing_but_value_error(raw: bytes) -> None:
    with contextlib.suppress(ValueError):  # any other exception fails the test
        decode_json(raw)


@settings(max_examples=400, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_places_are_the_significant_digits_after_the_point(value: Decimal) -> None:
    """The places a value's rule counts, read from its plain text: `1.500` has 1, `1E+2` and `0.00` none."""
    fraction = f"{value:f}".partition(".")[2].rstrip("0")
    assert decimal_places(value) == len(fraction)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_nesting_is_read_from_the_bytes_exactly(value: Any) -> None:
    assert nesting_depth(json.dumps(value).encode()) == _depth(value)


# Strings made mostly of what the scan must see through: brackets, quotes and backslashes inside strings.
STRUCTURAL_TEXT = st.text(alphabet='[]{}"\\a', max_size=10)
VALUES_WITH_BRACKETS_IN_STRINGS = st.recursive(
    STRUCTURAL_TEXT | st.integers(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(STRUCTURAL_TEXT, inner, max_size=3),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(VALUES_WITH_BRACKETS_IN_STRINGS)
def test_brackets_and_escaped_quotes_inside_strings_are_not_nesting(value: Any) -> None:
    assert nesting_depth(json.dumps(value).encode()) == _depth(value)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 300), st.integers(0, 300))
def test_nesting_deeper_than_the_fast_passes_or_unbalanced_is_read_exactly(opened: int, closed: int) -> None:
    assert nesting_depth(b"[" * opened + b"]" * closed) == opened


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=50), JSON_VALUES, max_size=8))
def test_metadata_is_either_in_domain_or_refused_with_a_path(metadata: dict[str, Any]) -> None:
    exact = decode_json(json.dumps(metadata))
    fault = metadata_fault(exact)
    if fault is None:
        assert json_fault(exact, METADATA) is None
        assert decode_json(json.dumps(metadata)) == exact
    else:
        path, reason = fault
        assert isinstance(path, str) and reason


@settings(max_examples=300, deadline=None)
@given(JSON_NUMBERS)
def test_plain_numbers_are_inside_every_number_rule(number: str) -> None:
    value = Decimal(number)
    if is_plain_number(value):
        assert value_fault(value) is None and json_number_fault(value) is None


def _cut(value: Any, depth: int, level: int = 0) -> Any:
    """`value` with every container opened deeper than `depth` levels read as None."""
    if isinstance(value, dict | list) and level >= depth:
        return None
    if isinstance(value, dict):
        return {k: _cut(v, depth, level + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut(v, depth, level + 1) for v in value]
    return value


DEEP_VALUES = st.recursive(
    st.none() | st.integers() | st.text(alphabet='ab"[]{}\\', max_size=4),
    lambda inner: st.lists(inner, min_size=1, max_size=2) | st.dictionaries(st.text(alphabet="[]{}", max_size=2),
                                                                            inner, min_size=1, max_size=2),
    max_leaves=60)


@settings(max_examples=400, deadline=None)
@given(DEEP_VALUES, st.integers(1, 4))
def test_cutting_at_a_depth_reads_every_piece_within_it_and_keeps_the_rest(value: Any, depth: int) -> None:
    """Brackets inside strings are text, every piece nests at most `depth` levels, and what is kept is
    the value itself with the deeper containers read as null."""
    raw = json.dumps(value).encode()
    shallow, pieces = cut_deep(raw, depth)
    assert json.loads(shallow) == _cut(value, depth)
    assert all(nesting_depth(piece) <= depth for piece in [shallow, *pieces])
    # Each byte is read once: in the kept text or in one piece (a `null` stands where each piece was).
    assert len(shallow) + sum(map(len, pieces)) == len(raw) + len(b"null") * len(pieces)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.integers(33, 60))
def test_a_batch_with_one_deep_item_keeps_the_others(value: Any, levels: int) -> None:
    deep = "[" * levels + "]" * levels
    body = ('{"events": [' + json.dumps(value) + ", " + deep + "]}").encode()
    events = decode_json_cutting_deep(body)["events"]
    assert events[0] == decode_json(json.dumps(value)) and nesting_depth(json.dumps(events[1]).encode()) <= 32


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(alphabet='[]{}",:1\\ ', max_size=300).map(str.encode))
def test_the_cutting_decoder_raises_nothing_but_value_error_and_reads_what_the_strict_one_reads(raw: bytes) -> None:
    deep = b"[" * 40 + raw + b"]" * 40
    for body in (raw, deep):
        try:
            value = decode_json_cutting_deep(body)
        except ValueError:
            continue
        with contextlib.suppress(ValueError):  # the strict decoder refuses what nests too deeply
            assert decode_json(body) == value


# What the event JSON carries: text of every kind (DEL, controls, past ASCII, a lone surrogate, the words
# msgspec writes for a non-finite Decimal), integers of any size, Decimals finite or not.
TRICKY_TEXT = st.text() | st.sampled_from(["\ud800", "a\x7fb", "\x00\x1f\b\t", "café", "NaN", "-Infinity", "</"])
ENCODED_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.decimals() | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY_TEXT, inner, max_size=4),
    max_leaves=30)


@settings(max_examples=500, deadline=None)
@given(ENCODED_VALUES)
def test_the_fast_encoder_writes_simplejsons_bytes_or_refuses_what_it_refuses(value: Any) -> None:
    """An event's bytes on Kafka (and a `unique` value's identity, its JSON text) do not depend on which
    encoder wrote them."""
    try:
        expected = encode_json(value)
    except ValueError:
        with pytest.raises(ValueError):
            encode_json_fast(value)
        return
    assert encode_json_fast(value) == expected
