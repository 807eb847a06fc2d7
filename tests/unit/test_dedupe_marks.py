"""The compact origin token of a dedupe mark comes back exactly as it was written."""

from __future__ import annotations

import pytest

from meterflow.adapters.dedupe_marks import decode_origin, encode_origin


@pytest.mark.parametrize("origin", ["0:0:0", "3:1000042:1764081416123456", "65535:281474976710655:72057594037927935",
                                    "65536:1:1", "1:281474976710656:1", "-1:2:3", "01:2:3", "1:2", "backfill:x:1",
                                    "é:1:2", "1"])
def test_an_origin_is_decoded_as_written(origin: str) -> None:
    assert decode_origin(encode_origin(origin)) == origin


def test_no_origin_is_an_empty_value() -> None:
    assert encode_origin(None) == b""
    assert decode_origin(b"") is None
    assert len(encode_origin("3:1000042:1764081416123456")) == 16
