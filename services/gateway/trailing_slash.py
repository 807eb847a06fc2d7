"""`/v1/customers/` is served as `/v1/customers`, never redirected (API paths only).

A redirect (Starlette's 307 to the path without the slash) answers a POST after the idempotency layer has
seen its `Idempotency-Key`: the client's retry at the new path then looks like another request with the
same key and is refused. Rewriting the path before anything reads it makes both spellings one request.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

API_PREFIX = "/v1/"  # pages and static files keep their own slash rules (a directory's index ends in `/`)


class TrailingSlashes:
    """Pure ASGI middleware: strips trailing slashes from the path of an HTTP request to the API."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(API_PREFIX) and path.endswith("/"):
            bare = path.rstrip("/")
            raw = scope.get("raw_path")
            scope = {**scope, "path": bare, "raw_path": raw.rstrip(b"/") or b"/" if raw else raw}
        await self.app(scope, receive, send)
