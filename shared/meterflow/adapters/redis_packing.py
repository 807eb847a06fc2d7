"""Commands packed into Redis's wire format by hiredis, in C.

redis-py parses replies with hiredis when it is installed, but its asyncio connection packs every
command in Python, argument by argument: the dedupe look-up and marks of a 1,000-event batch are commands
of thousands of arguments, 1.5 ms each to pack (8% of the gateway's CPU per event), 0.3 ms with hiredis,
about half that once the bytes arguments (the digests) skip the encoder's call. Every other argument is
encoded by redis-py's own encoder first, so the bytes sent are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hiredis
from redis.asyncio.connection import Connection


class HiredisPackingConnection(Connection):
    def pack_command(self, *args: Any) -> list[bytes]:
        # A command name holding its first arguments (`CONFIG GET`) is split as redis-py splits it.
        if isinstance(args[0], str):
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        # Bytes (the marks' digests, most of a batch's arguments) are what the encoder would return them
        # as: only the others pay for its call.
        encode: Callable[[Any], Any] = self.encoder.encode
        encoded: tuple[Any, ...] = tuple([a if type(a) is bytes else encode(a) for a in args])
        packed: bytes = hiredis.pack_command(encoded)
        return [packed]
