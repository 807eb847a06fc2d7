"""The spool's on-disk frame: one accepted batch of one request, checksummed.

    u32 body length | u32 CRC-32 of the body | body
    body: u8 version | u8 mode | u64 first sequence | i64 received ms | u16 len + request id
          | u32 event count | per event: u16 len + key (customer id) | u32 len + value (event JSON)

A frame is appended whole and made durable (fsync) before its batch is acknowledged. A frame cut short
by a crash (kill -9 mid-write, power loss) or damaged fails its length or checksum: reading stops at the
first such frame, which is where the valid log ends (`scan`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from meterflow.domain.modes import Mode

_HEAD = struct.Struct("<II")
_BODY = struct.Struct("<BBQqH")
_COUNT = struct.Struct("<I")
_KEY = struct.Struct("<H")
_VALUE = struct.Struct("<I")
_VERSION = 1
_MODES = (Mode.TEST, Mode.LIVE)
HEAD_BYTES = _HEAD.size


@dataclass(frozen=True)
class SpooledBatch:
    """The events of one acknowledged request, numbered `first_seq` … `last_seq` in the spool."""

    mode: Mode
    first_seq: int
    received_ms: int
    request_id: str
    events: tuple[tuple[bytes, bytes], ...]  # (key, value) in request order

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.events) - 1


def encode(batch: SpooledBatch) -> bytes:
    request_id = batch.request_id.encode()
    parts = [_BODY.pack(_VERSION, _MODES.index(batch.mode), batch.first_seq, batch.received_ms, len(request_id)),
             request_id, _COUNT.pack(len(batch.events))]
    for key, value in batch.events:
        parts += (_KEY.pack(len(key)), key, _VALUE.pack(len(value)), value)
    body = b"".join(parts)
    return _HEAD.pack(len(body), zlib.crc32(body)) + body


def scan(data: bytes) -> Iterator[tuple[SpooledBatch, int]]:
    """Each whole, intact frame with the offset just past it, from the start until the first frame that
    is cut short or fails its checksum (the caller cuts the log there)."""
    at = 0
    while at + HEAD_BYTES <= len(data):
        length, crc = _HEAD.unpack_from(data, at)
        end = at + HEAD_BYTES + length
        if end > len(data) or zlib.crc32(data[at + HEAD_BYTES:end]) != crc:
            return
        yield _decode(memoryview(data)[at + HEAD_BYTES:end]), end
        at = end


def _decode(body: memoryview) -> SpooledBatch:
    version, mode, first_seq, received_ms, id_length = _BODY.unpack_from(body, 0)
    if version != _VERSION:
        raise ValueError(f"spool frame version {version} is not {_VERSION}")
    at = _BODY.size
    request_id = bytes(body[at:at + id_length]).decode()
    at += id_length
    (count,) = _COUNT.unpack_from(body, at)
    at += _COUNT.size
    events = []
    for _ in range(count):
        (key_length,) = _KEY.unpack_from(body, at)
        at += _KEY.size
        key = bytes(body[at:at + key_length])
        at += key_length
        (value_length,) = _VALUE.unpack_from(body, at)
        at += _VALUE.size
        events.append((key, bytes(body[at:at + value_length])))
        at += value_length
    return SpooledBatch(_MODES[mode], first_seq, received_ms, request_id, tuple(events))
