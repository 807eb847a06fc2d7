"""An in-memory fake of the PaymentProvider port, for unit tests of the collection use cases only; the
contract it shares with the real adapters (over the wire double) is checked in
tests/integration/test_payment_providers.py. Like a real provider it charges a reference at most once, and
it records, at each charge, whether the attempt was already stored (via `stored`), which is what makes
"stored before the provider is called" testable."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

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


@dataclass
class FakeProvider:
    provider: Provider = Provider.PAYSTACK
    charges: dict[str, tuple[Decimal, ProviderVerdict]] = field(default_factory=dict)  # by reference
    declined_tokens: set[str] = field(default_factory=set)
    lose_answers: int = 0  # charge, then raise Unavailable: the answer is lost
    charge_calls: list[str] = field(default_factory=list)
    stored: Callable[[str], bool] | None = None  # is this reference stored? asked at each charge
    stored_before_charge: list[bool] = field(default_factory=list)
    modes: frozenset[Mode] = frozenset(Mode)

    def configured(self, mode: Mode) -> bool:
        return mode in self.modes

    async def charge(self, mode: Mode, token: str, email: str, amount: Decimal, currency: str,
                     reference: str) -> ProviderOutcome:
        provider_amount(self.provider, amount, currency)
        self.charge_calls.append(reference)
        if self.stored is not None:
            self.stored_before_charge.append(self.stored(reference))
        if reference not in self.charges:
            verdict = ProviderVerdict.FAILED if token in self.declined_tokens else ProviderVerdict.SUCCEEDED
            self.charges[reference] = (amount, verdict)
        if self.lose_answers > 0:
            self.lose_answers -= 1
            raise Unavailable("the answer was lost")
        return await self.verify(mode, reference)

    async def verify(self, mode: Mode, reference: str) -> ProviderOutcome:
        found = self.charges.get(reference)
        if found is None:
            return ProviderOutcome(ProviderVerdict.NOT_FOUND)
        reason = "Insufficient Funds" if found[1] is ProviderVerdict.FAILED else None
        card = CardDetails(f"AUTH_{reference}", "visa", "4081", 12, 2030, "a@b.co")
        return ProviderOutcome(found[1], reason, f"id-{reference}", card)

    async def start_checkout(self, mode: Mode, email: str, amount: Decimal, currency: str, reference: str,
                             callback_url: str | None) -> str:
        return f"https://checkout.example/{reference}"

    def webhook_mode(self, headers: Mapping[str, str], body: bytes) -> Mode | None:
        return Mode.TEST if headers.get("signature") == "good" else None

    def webhook_notice(self, payload: Any) -> ProviderNotice | None:
        return ProviderNotice(payload["id"], payload["reference"]) if isinstance(payload, dict) else None
