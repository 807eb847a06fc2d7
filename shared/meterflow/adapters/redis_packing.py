"""Commands packed into Redis's wire format by hiredis, in C.

redis-py parses replies with hiredis when it is installed, but its asyncio connection packs every
command in Python, argument by argument: the dedupe look-up and marks of a 1,000-event batch are commands
of thousands of arguments, 1.5 ms each to pack (8% of the gateway's CPU per event), 0.3 ms with hiredis.
Arguments are encoded by redis-py's own encoder first, so the bytes sent are the same.
"""

from __future__ import annotations

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
        packed: bytes = hiredis.pack_command(tuple(map(self.encoder.encode, args)))
        return [packed]
