"""`HEAD` on any route that answers `GET`: the same status and headers, no body (HTTP's definition of
HEAD). The routes declare GET only, so without this a client checking a resource (or a monitor probing
`/healthz`) got a 405.

The request runs as the GET it mirrors (same key, same checks, same `Content-Length`); the body is
dropped here rather than left to the server, which not every server does.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
