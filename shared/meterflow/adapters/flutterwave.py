"""Flutterwave (api.flutterwave.com, v3): the three endpoints meterflow calls, and its webhooks.

- `POST /v3/tokenized-charges` charges a saved card token (amount in major units);
- `GET /v3/transactions/verify_by_reference?tx_ref=` says what became of a reference (an error answer
  with no data when Flutterwave never received it);
- `POST /v3/payments` opens the hosted checkout (`data.link`) that saves a card;
- a webhook carries `verif-hash`, equal to the secret hash configured for the mode on Flutterwave's
  dashboard. The event name with the transaction's id identifies an event.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from meterflow.adapters.provider_http import ProviderClient, field, number, refused, text
from meterflow.domain.errors import Unavailable
from meterflow.domain.modes import Mode
from meterflow.domain.payments import (
    CardDetails,
    Provider,
    ProviderNotice,
    ProviderOutcome,
    ProviderVerdict,
    provider_amount,
)

DEFAULT_BASE_URL = "https://api.flutterwave.com"
HASH_HEADER = "verif-hash"
_VERDICTS = {"successful": ProviderVerdict.SUCCEEDED, "failed": ProviderVerdict.FAILED,
             "cancelled": ProviderVerdict.FAILED}


def _outcome(data: Any) -> ProviderOutcome:
    verdict = _VERDICTS.get(text(field(data, "status")) or "", ProviderVerdict.PENDING)
    reason = text(field(data, "processor_response")) if verdict is ProviderVerdict.FAILED else None
    return ProviderOutcome(verdict, reason, text(field(data, "id")), _card(data))


def _card(data: Any) -> CardDetails | None:
    card = field(data, "card")
    token = text(field(card, "token"))
    if token is None:
        return None
    month, _, year = (text(field(card, "expiry")) or "").partition("/")
    exp_year = number(year)
    return CardDetails(token, text(field(card, "type")), text(field(card, "last_4digits")), number(month),
                       2000 + exp_year if exp_year is not None and exp_year < 100 else exp_year,
                       text(field(data, "customer", "email")))


class Flutterwave:
    provider = Provider.FLUTTERWAVE

    def __init__(self, client: ProviderClient, secret_hashes: Mapping[Mode, str | None]) -> None:
        self._http = client
        self._hashes = dict(secret_hashes)

    def configured(self, mode: Mode) -> bool:
        return self._http.configured(mode)

    async def charge(self, mode: Mode, token: str, email: str, amount: Decimal, currency: str,
                     reference: str) -> ProviderOutcome:
        body = {"token": token, "email": email, "amount": provider_amount(self.provider, amount, currency),
                "currency": currency, "tx_ref": reference, "narration": f"meterflow {reference}"}
        answer = await self._http.call(mode, "POST", "/v3/tokenized-charges", body)
        if answer.ok and field(answer.body, "status") == "success":
            return _outcome(field(answer.body, "data"))
        return refused(await self.verify(mode, reference), answer)

    async def verify(self, mode: Mode, reference: str) -> ProviderOutcome:
        answer = await self._http.call(mode, "GET", "/v3/transactions/verify_by_reference",
                                       params={"tx_ref": reference})
        if answer.status_code in (400, 404) and field(answer.body, "status") == "error":
            return ProviderOutcome(ProviderVerdict.NOT_FOUND)
        if not answer.ok or field(answer.body, "status") != "success":
            raise Unavailable(f"flutterwave answered {answer.status_code} to a verify: "
                              f"{field(answer.body, 'message')}")
        return _outcome(field(answer.body, "data"))

    async def start_checkout(self, mode: Mode, email: str, amount: Decimal, currency: str, reference: str,
                             callback_url: str | None) -> str:
        body: dict[str, Any] = {"tx_ref": reference, "amount": provider_amount(self.provider, amount, currency),
                                "currency": currency, "customer": {"email": email}, "payment_options": "card"}
        if callback_url:
            body["redirect_url"] = callback_url
        answer = await self._http.call(mode, "POST", "/v3/payments", body)
        url = text(field(answer.body, "data", "link"))
        if not answer.ok or url is None:
            raise Unavailable(f"flutterwave did not open a checkout: {field(answer.body, 'message')}")
        return url

    def webhook_mode(self, headers: Mapping[str, str], body: bytes) -> Mode | None:
        given = headers.get(HASH_HEADER, "")
        for mode in Mode:
            expected = self._hashes.get(mode)
            if expected and hmac.compare_digest(expected.encode(), given.encode()):
                return mode
        return None

    def webhook_notice(self, payload: Any) -> ProviderNotice | None:
        event, reference = text(field(payload, "event")), text(field(payload, "data", "tx_ref"))
        if event is None or reference is None:
            return None
        return ProviderNotice(f"{event}:{field(payload, 'data', 'id')}", reference)
