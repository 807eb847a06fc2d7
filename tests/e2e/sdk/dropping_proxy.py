"""A TCP proxy in front of the gateway that loses answers: it forwards a request, waits for the
gateway's whole answer (so the request was carried out), then drops the client's connection instead of
relaying it, for the first `drops` requests. The network fault a client must survive without creating
twice; the gateway itself is untouched."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from services.devstack.embedded import free_port


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 message (head and a Content-Length body), as bytes."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head + (await reader.readexactly(length) if length else b"")


@dataclass
class DroppingProxy:
    upstream_port: int
    drops: int
    port: int = field(default_factory=free_port)
    forwarded: int = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            while True:
                try:
                    request = await _read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                up_writer.write(request)
                await up_writer.drain()
                answer = await _read_message(up_reader)
                self.forwarded += 1
                if self.drops > 0:
                    self.drops -= 1
                    writer.transport.abort()  # the answer is lost on the way back
                    return
                writer.write(answer)
                await writer.drain()
        finally:
            up_writer.close()
            with contextlib.suppress(ConnectionError):
                writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[DroppingProxy]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        async with server:
            yield self
