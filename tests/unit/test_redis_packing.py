"""Commands packed by hiredis are byte for byte the ones redis-py packs in Python (adapters/redis_packing.py):
the faster packing changes nothing Redis receives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio.connection import Connection

from meterflow.adapters.redis_packing import HiredisPackingConnection

Argument = str | bytes | int | float
ARGUMENTS = st.lists(st.text() | st.binary() | st.integers() | st.floats(allow_nan=False), max_size=20)
COMMANDS = st.sampled_from(["EVALSHA", "HSET", "CONFIG GET", "SCRIPT LOAD", "GET"]).map(str) | st.just(b"EVAL")


@settings(max_examples=300, deadline=None)
@given(COMMANDS, ARGUMENTS)
def test_hiredis_packs_the_bytes_redis_py_packs(command: str | bytes, arguments: list[Argument]) -> None:
    expected = b"".join(Connection().pack_command(command, *arguments))
    assert b"".join(HiredisPackingConnection().pack_command(command, *arguments)) == expected


def test_a_batch_sized_command_is_one_buffer() -> None:
    arguments = [f"{i:016x}" for i in range(3_000)]
    packed = HiredisPackingConnection().pack_command("EVALSHA", "f" * 40, 2, "a", "b", *arguments)
    assert len(packed) == 1 and packed[0] == b"".join(Connection().pack_command("EVALSHA", "f" * 40, 2, "a", "b",
                                                                                *arguments))
