"""The compact origin token of a dedupe mark comes back exactly as it was written."""

from __future__ import annotations

import pytest

from meterflow.adapters.dedupe_marks import decode_origin, encode_origin


@pytest.mark.parametrize("origin", ["0:0:0", "3:1000042:1764081416123456", "65535:281474976710655:72057594037927935",
                                    "65536:1:1", "1:281474976710656:1", "-1:2:3", "01:2:3", "1:2", "backfill:x:1",
                                    "é:1:2", "1", "1:1:72057594037927936", "\u0661:2:3", "+1:2:3", "1:2:3:4", "0:00:1",
                                    " 1:2:3", "1:2:3\n", "1_0:2:3"])
def test_an_origin_is_decoded_as_written(origin: str) -> None:
    assert decode_origin(encode_origin(origin)) == origin


@pytest.mark.parametrize(("origin", "packed"), [("0:0:0", True), ("65535:281474976710655:72057594037927935", True),
                                                ("65536:1:1", False), ("1:1:72057594037927936", False),
                                                ("01:2:3", False), ("\u0661:2:3", False), ("1:2:3\n", False)])
def test_only_a_canonical_token_within_its_fields_is_packed(origin: str, packed: bool) -> None:
    """Packed: 16 bytes (tag 1); anything else is kept as its text behind tag 0."""
    encoded = encode_origin(origin)
    assert (encoded[0] == 1 and len(encoded) == 16) is packed


def test_no_origin_is_an_empty_value() -> None:
    assert encode_origin(None) == b""
    assert decode_origin(b"") is None
    assert len(encode_origin("3:1000042:1764081416123456")) == 16
