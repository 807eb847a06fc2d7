"""Paystack (api.paystack.co): the three endpoints meterflow calls, and its webhooks.

- `POST /transaction/charge_authorization` charges a saved authorization (amount in subunits);
- `GET /transaction/verify/{reference}` says what became of a reference (HTTP 400 or 404 with
  `"status": false` when Paystack never received it);
- `POST /transaction/initialize` opens the hosted checkout that saves a card;
- a webhook carries `x-paystack-signature`, the hex HMAC-SHA512 of the raw body keyed with the secret key
  of the mode it belongs to. Paystack gives its events no id of their own: the event name with the
  transaction's id is one.
"""

from __future__ import annotations

import hashlib
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

DEFAULT_BASE_URL = "https://api.paystack.co"
SIGNATURE_HEADER = "x-paystack-signature"
_VERDICTS = {"success": ProviderVerdict.SUCCEEDED, "failed": ProviderVerdict.FAILED,
             "reversed": ProviderVerdict.FAILED, "abandoned": ProviderVerdict.FAILED}


def signature(secret_key: str, body: bytes) -> str:
    return hmac.new(secret_key.encode(), body, hashlib.sha512).hexdigest()


def _outcome(data: Any) -> ProviderOutcome:
    """A transaction object: anything not final (ongoing, pending, send_otp, queued…) is still pending."""
    status = text(field(data, "status")) or ""
    verdict = _VERDICTS.get(status, ProviderVerdict.PENDING)
    reason = text(field(data, "gateway_response")) if verdict is ProviderVerdict.FAILED else None
    return ProviderOutcome(verdict, reason, text(field(data, "id")), _card(data))


def _card(data: Any) -> CardDetails | None:
    authorization = field(data, "authorization")
    token = text(field(authorization, "authorization_code"))
    if token is None:
        return None
    return CardDetails(token, text(field(authorization, "brand")), text(field(authorization, "last4")),
                       number(field(authorization, "exp_month")), number(field(authorization, "exp_year")),
                       text(field(data, "customer", "email")), field(authorization, "reusable") is not False)


class Paystack:
    provider = Provider.PAYSTACK

    def __init__(self, client: ProviderClient) -> None:
        self._http = client

    def configured(self, mode: Mode) -> bool:
        return self._http.configured(mode)

    async def charge(self, mode: Mode, token: str, email: str, amount: Decimal, currency: str,
                     reference: str) -> ProviderOutcome:
        body = {"email": email, "amount": provider_amount(self.provider, amount, currency),
                "authorization_code": token, "reference": reference, "currency": currency}
        answer = await self._http.call(mode, "POST", "/transaction/charge_authorization", body)
        if answer.ok and field(answer.body, "status") is True:
            return _outcome(field(answer.body, "data"))
        return refused(await self.verify(mode, reference), answer)

    async def verify(self, mode: Mode, reference: str) -> ProviderOutcome:
        answer = await self._http.call(mode, "GET", f"/transaction/verify/{reference}")
        if answer.status_code in (400, 404) and field(answer.body, "status") is False:
            return ProviderOutcome(ProviderVerdict.NOT_FOUND)
        if not answer.ok or field(answer.body, "status") is not True:
            raise Unavailable(f"paystack answered {answer.status_code} to a verify: {field(answer.body, 'message')}")
        return _outcome(field(answer.body, "data"))

    async def start_checkout(self, mode: Mode, email: str, amount: Decimal, currency: str, reference: str,
                             callback_url: str | None) -> str:
        body: dict[str, Any] = {"email": email, "amount": provider_amount(self.provider, amount, currency),
                                "currency": currency, "reference": reference, "channels": ["card"]}
        if callback_url:
            body["callback_url"] = callback_url
        answer = await self._http.call(mode, "POST", "/transaction/initialize", body)
        url = text(field(answer.body, "data", "authorization_url"))
        if not answer.ok or url is None:
            raise Unavailable(f"paystack did not open a checkout: {field(answer.body, 'message')}")
        return url

    def webhook_mode(self, headers: Mapping[str, str], body: bytes) -> Mode | None:
        given = headers.get(SIGNATURE_HEADER, "")
        for mode in Mode:
            if self._http.configured(mode) and hmac.compare_digest(signature(self._http.key(mode), body), given):
                return mode
        return None

    def webhook_notice(self, payload: Any) -> ProviderNotice | None:
        event, reference = text(field(payload, "event")), text(field(payload, "data", "reference"))
        if event is None or reference is None:
            return None
        return ProviderNotice(f"{event}:{field(payload, 'data', 'id')}", reference)
