"""A customer's reusable payment methods: attached by ops (a token they already hold), or saved through
the provider's hosted checkout once the provider confirms it (its webhook, or a verify asked for through
the API). One is the default: the first saved becomes it, and collection charges it.

The token itself is stored and sent only to its provider; the API never shows it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from meterflow.application.collection import provider_of
from meterflow.application.ports.payments import PaymentUnitOfWork, PaymentUnitOfWorkFactory, Providers
from meterflow.clock import Clock
from meterflow.domain.errors import Conflict, NotFound
from meterflow.domain.ids import IdKind, new_id
from meterflow.domain.modes import Mode
from meterflow.domain.payments import (
    SETUP_AMOUNTS,
    CardDetails,
    PaymentMethod,
    Provider,
    ProviderOutcome,
    ProviderVerdict,
    Setup,
    SetupCurrency,
)


@dataclass(frozen=True)
class PaymentMethods:
    unit_of_work: PaymentUnitOfWorkFactory
    providers: Providers
    clock: Clock

    async def attach(self, mode: Mode, customer_id: str, provider: Provider, token: str, email: str,
                     default: bool = False) -> PaymentMethod:
        async with self.unit_of_work() as uow:
            await _customer(uow, mode, customer_id)
            card = CardDetails(token, None, None, None, None, email)
            method = await _save(uow, mode, customer_id, provider, card, email, default, self.clock)
            await uow.commit()
        return method

    async def start_setup(self, mode: Mode, customer_id: str, provider: Provider, email: str,
                          currency: SetupCurrency, callback_url: str | None) -> Setup:
        """The provider's hosted checkout: the customer pays the currency's small setup amount there, and
        the card it tokenizes is saved once the provider confirms the payment."""
        amount = SETUP_AMOUNTS[currency]
        async with self.unit_of_work() as uow:
            await _customer(uow, mode, customer_id)
        reference = f"setup-{secrets.token_hex(12)}"
        url = await provider_of(self.providers, provider).start_checkout(mode, email, amount, currency, reference,
                                                                         callback_url)
        setup = Setup(reference, mode, customer_id, provider, email, url, None, self.clock.now())
        async with self.unit_of_work() as uow:
            await uow.payments.add_setup(setup)
            await uow.commit()
        return setup

    async def finish_setup(self, mode: Mode, customer_id: str, reference: str) -> PaymentMethod:
        """Ask the provider how the checkout went; save the card when it succeeded (once, however often asked)."""
        async with self.unit_of_work() as uow:
            setup = await uow.payments.setup(reference)
        if setup is None or setup.mode is not mode or setup.customer_id != customer_id:
            raise NotFound("setup", reference, "reference")
        outcome = await provider_of(self.providers, setup.provider).verify(mode, reference)
        async with self.unit_of_work() as uow:
            method = await self.save_from_checkout(uow, setup, outcome)
            await uow.commit()
        if method is None:
            raise Conflict(f"The checkout {reference} is not completed with a reusable card "
                           f"({outcome.verdict.value}{': ' + outcome.reason if outcome.reason else ''})")
        return method

    async def save_from_checkout(self, uow: PaymentUnitOfWork, setup: Setup,
                                 outcome: ProviderOutcome) -> PaymentMethod | None:
        """The method a verified checkout saved (already saved: that one); None while it has not succeeded
        with a reusable card. In the caller's unit of work (a provider webhook's)."""
        locked = await uow.payments.setup(setup.reference, lock=True)
        if locked is not None and locked.payment_method_id is not None:
            return await uow.payments.method(setup.mode, locked.payment_method_id, include_deleted=True)
        card = outcome.card
        if outcome.verdict is not ProviderVerdict.SUCCEEDED or card is None or not card.reusable:
            return None
        method = await _save(uow, setup.mode, setup.customer_id, setup.provider, card, card.email or setup.email,
                             False, self.clock)
        await uow.payments.complete_setup(setup.reference, method.id)
        return method

    async def listing(self, mode: Mode, customer_id: str) -> list[PaymentMethod]:
        async with self.unit_of_work() as uow:
            await _customer(uow, mode, customer_id)
            return await uow.payments.methods(mode, customer_id)

    async def make_default(self, mode: Mode, customer_id: str, method_id: str) -> PaymentMethod:
        async with self.unit_of_work() as uow:
            method = await _method(uow, mode, customer_id, method_id)
            await uow.payments.make_default(method, self.clock.now())
            await uow.commit()
        return replace(method, is_default=True, updated_at=self.clock.now())

    async def delete(self, mode: Mode, customer_id: str, method_id: str) -> None:
        """Never charged again (an attempt already in flight with it is still resolved)."""
        async with self.unit_of_work() as uow:
            method = await _method(uow, mode, customer_id, method_id)
            await uow.payments.delete_method(method, self.clock.now())
            await uow.commit()


async def _customer(uow: PaymentUnitOfWork, mode: Mode, customer_id: str) -> None:
    if not await uow.payments.customer_exists(mode, customer_id):
        raise NotFound("customer", customer_id)


async def _method(uow: PaymentUnitOfWork, mode: Mode, customer_id: str, method_id: str) -> PaymentMethod:
    method = await uow.payments.method(mode, method_id)
    if method is None or method.customer_id != customer_id:
        raise NotFound("payment_method", method_id)
    return method


async def _save(uow: PaymentUnitOfWork, mode: Mode, customer_id: str, provider: Provider, card: CardDetails,
                email: str, default: bool, clock: Clock) -> PaymentMethod:
    """The first method of a customer is the default whatever was asked."""
    now = clock.now()
    first = await uow.payments.default_method(mode, customer_id) is None
    method = PaymentMethod(new_id(IdKind.PAYMENT_METHOD), mode, customer_id, provider, card.token, card.brand,
                           card.last4, card.exp_month, card.exp_year, email, default or first, now, now)
    await uow.payments.add_method(method)
    return method
