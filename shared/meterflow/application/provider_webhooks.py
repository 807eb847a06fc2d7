"""A provider's webhook (`POST /v1/providers/{provider}/webhooks`): trusted only once its signature
verifies with a mode's secret, and then only for what the provider says when asked about the reference
(a verify call): the body itself is never taken at its word.

Deduplicated by the provider's event id, noted in the same unit of work as what the event changes: a
repeat is answered 200 and changes nothing; two copies at once both settle through `Collection.settle_in`,
which changes nothing the second time. Out-of-order events are harmless for the same reason: the verdict
comes from the provider at the time of asking, and a final attempt never changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from meterflow.application.collection import Collection, provider_of
from meterflow.application.payment_methods import PaymentMethods
from meterflow.application.ports.payments import PaymentUnitOfWorkFactory, Providers
from meterflow.clock import Clock
from meterflow.domain.errors import FieldError
from meterflow.domain.events import decode_json
from meterflow.domain.payments import Provider, ProviderVerdict


class WebhookResult(StrEnum):
    FORGED = "forged"  # no mode's secret verifies it: 401
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # not about a reference of ours, or nothing to apply


@dataclass(frozen=True)
class ProviderWebhooks:
    unit_of_work: PaymentUnitOfWorkFactory
    providers: Providers
    collection: Collection
    methods: PaymentMethods
    clock: Clock

    async def receive(self, provider: Provider, headers: Mapping[str, str], body: bytes) -> WebhookResult:
        """Verify, confirm with the provider, apply once. FieldError naming `body` when it is not JSON;
        Unavailable when the provider cannot be asked (the provider retries its webhook)."""
        api = provider_of(self.providers, provider)
        mode = api.webhook_mode(headers, body)
        if mode is None:
            return WebhookResult.FORGED
        try:
            payload = decode_json(body)
        except ValueError as exc:
            raise FieldError("body", f"not JSON: {exc}") from None
        notice = api.webhook_notice(payload)
        if notice is None:
            return WebhookResult.IGNORED
        async with self.unit_of_work() as uow:
            if await uow.payments.seen_event(provider, notice.event_id):
                return WebhookResult.DUPLICATE
            attempt = await uow.payments.transaction_by_reference(notice.reference)
            setup = None if attempt else await uow.payments.setup(notice.reference)
        if (attempt is None or attempt.mode is not mode) and (setup is None or setup.mode is not mode):
            return WebhookResult.IGNORED  # not ours in this mode: nothing to ask the provider
        outcome = await api.verify(mode, notice.reference)
        if outcome.verdict not in (ProviderVerdict.SUCCEEDED, ProviderVerdict.FAILED):
            return WebhookResult.IGNORED  # nothing final yet: the event is not noted, its next copy may apply
        async with self.unit_of_work() as uow:
            if not await uow.payments.note_event(provider, notice.event_id, mode, self.clock.now()):
                return WebhookResult.DUPLICATE
            if setup is not None:
                await self.methods.save_from_checkout(uow, setup, outcome)
            else:
                await self.collection.settle_in(uow, notice.reference, outcome)
            await uow.commit()
        return WebhookResult.APPLIED
