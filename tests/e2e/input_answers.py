"""What a refusal looks like to a client: the status, the field named in `param` (and in `details` on
a 400, where Monigo's clients look), the request id."""

from __future__ import annotations

from typing import Any

import httpx


def refused(response: httpx.Response, param: str, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()
    assert isinstance(error["error"], str) and error["param"] == param, error
    assert status != 400 or param in error["details"], error
    assert response.headers["x-request-id"]
    return error
