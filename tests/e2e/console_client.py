"""Signing in to the ops console over HTTP, as a browser would: the sign-in form's token and cookie, then
the session cookie. Shared by the console's HTTP tests and its benchmark."""

from __future__ import annotations

import re

import httpx

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page: httpx.Response) -> str:
    found = TOKEN.search(page.text)
    assert found, page.text
    return found.group(1)


async def sign_in(console: httpx.AsyncClient, api_key: str) -> httpx.Response:
    """The answer to the sign-in form posted with `api_key` (a 303 to the overview when it is accepted)."""
    form = await console.get("/console/login")
    return await console.post("/console/login", data={"csrf_token": csrf_token(form), "api_key": api_key})


async def signed_in(console: httpx.AsyncClient, api_key: str) -> str:
    """Signs `console` in and returns the session's CSRF token (read from the overview's forms)."""
    answer = await sign_in(console, api_key)
    assert answer.status_code == 303 and answer.headers["location"] == "/console", answer.text
    return csrf_token(await console.get("/console"))
