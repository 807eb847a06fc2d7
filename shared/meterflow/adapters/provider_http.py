"""What the two payment-provider adapters share: one httpx client per process, the secret key of the
mode as a bearer token, and the line between "the provider answered" and "nobody knows".

A timeout, a lost connection or a 5xx leaves a charge's outcome unknown: it is raised as `Unavailable`
and the caller verifies the reference before anything else. Any other answer is returned with its JSON,
for the adapter to read the provider's own words. Amounts travel as exact JSON numbers (Decimal in and
out), never through a float.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from meterflow.domain.errors import FieldError, Unavailable
from meterflow.domain.events import decode_json, encode_json
from meterflow.domain.modes import Mode
from meterflow.domain.payments import Provider, ProviderOutcome, ProviderVerdict


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: Any  # the decoded JSON (None when the provider sent something else)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


class ProviderClient:
    """HTTP to one provider, authenticated with the key of the object's mode."""

    def __init__(self, provider: Provider, base_url: str, keys: Mapping[Mode, str | None], timeout_s: float,
                 client: httpx.AsyncClient) -> None:
        self.provider = provider
        self._base_url = base_url.rstrip("/")
        self._keys = dict(keys)
        self._timeout = httpx.Timeout(timeout_s)
        self._client = client

    def configured(self, mode: Mode) -> bool:
        return bool(self._keys.get(mode))

    def key(self, mode: Mode) -> str:
        key = self._keys.get(mode)
        if not key:
            raise FieldError("provider", f"{self.provider.value} has no secret key for {mode.value} mode: "
                             "set it in the settings to collect through it")
        return key

    async def call(self, mode: Mode, method: str, path: str, body: Any = None,
                   params: Mapping[str, str] | None = None) -> Answer:
        headers = {"Authorization": f"Bearer {self.key(mode)}", "Content-Type": "application/json"}
        try:
            response = await self._client.request(method, self._base_url + path, headers=headers, params=params,
                                                  content=None if body is None else encode_json(body),
                                                  timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{self.provider.value} did not answer {path}: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise Unavailable(f"{self.provider.value} answered {response.status_code} to {path}")
        try:
            decoded = decode_json(response.content)
        except ValueError:
            decoded = None
        return Answer(response.status_code, decoded)


def field(data: Any, *path: str) -> Any:
    """`data[path[0]][path[1]]…`, or None where the provider left something out."""
    for name in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(name)
    return data


def text(value: Any) -> str | None:
    return None if value is None else str(value).strip() or None


def number(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def refused(known: ProviderOutcome, answer: Answer) -> ProviderOutcome:
    """A charge the provider refused outright (4xx) was not made, unless the refusal is that the reference
    exists (a charge sent before, whose answer was lost): then what the reference says (`known`) decides."""
    if known.verdict is not ProviderVerdict.NOT_FOUND:
        return known
    message = text(field(answer.body, "message")) or f"refused with HTTP {answer.status_code}"
    return ProviderOutcome(ProviderVerdict.FAILED, message)
