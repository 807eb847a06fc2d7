"""Where the client's key and address come from: the arguments, else `MF_API_KEY` and `MF_BASE_URL`."""

from __future__ import annotations

import os

from meterflow_client.errors import MeterflowError

DEFAULT_BASE_URL = "http://127.0.0.1:8080"


def api_key_from(given: str | None) -> str:
    key = given or os.environ.get("MF_API_KEY")
    if not key:
        raise MeterflowError("No API key: pass api_key=... or set MF_API_KEY")
    return key


def base_url_from(given: str | None) -> str:
    return (given or os.environ.get("MF_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
