"""The Paystack and Flutterwave adapters against the wire double (tests/provider_doubles.py), which answers
with the providers' documented payloads: amounts as each provider counts them, verdicts read from their
status words, a lost answer or a 5xx as an unknown outcome, webhooks recognised by their signatures."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest

from meterflow.application.ports.payments import PaymentProvider
from meterflow.domain.errors import FieldError, Unavailable
from meterflow.domain.events import encode_json
from meterflow.domain.modes import Mode
from meterflow.domain.payments import Provider, ProviderVerdict
from meterflow.settings import Settings
from services.wiring import payment_providers
from tests.fakes.providers import FakeProvider
from tests.provider_doubles import FLUTTERWAVE_HASHES, PAYSTACK_KEYS, ProviderDouble, provider_double, provider_settings
from tests.support import unique

Pair = tuple[ProviderDouble, dict[Provider, PaymentProvider]]


@pytest.fixture
async def providers() -> AsyncIterator[Pair]:
    async with provider_double() as double, httpx.AsyncClient() as client:
        settings = Settings.model_validate({**provider_settings(double.url), "payment_timeout_s": 0.5})
        built: dict[Provider, PaymentProvider] = dict(payment_providers(settings, client))
        yield double, built


@pytest.mark.parametrize(("provider", "currency", "amount", "sent"), [
    (Provider.PAYSTACK, "NGN", "1500.50", Decimal(150050)),
    (Provider.FLUTTERWAVE, "NGN", "1500.50", Decimal("1500.50")),
    (Provider.FLUTTERWAVE, "USD", "19.99", Decimal("19.99"))])
async def test_a_charge_sends_the_exact_amount_and_reads_success(providers: Pair, provider: Provider, currency: str,
                                                                 amount: str, sent: Decimal) -> None:
    double, api = providers
    reference = unique("inv").replace("_", "-")
    outcome = await api[provider].charge(Mode.TEST, "AUTH_ok", "a@b.co", Decimal(amount), currency, reference)
    assert outcome.verdict is ProviderVerdict.SUCCEEDED and outcome.provider_transaction_id
    assert double.ledger[(provider.value, reference)].amount == sent
    assert (await api[provider].verify(Mode.TEST, reference)).verdict is ProviderVerdict.SUCCEEDED
    assert (await api[provider].verify(Mode.LIVE, reference)).verdict is ProviderVerdict.NOT_FOUND  # other mode


@pytest.mark.parametrize("provider", list(Provider))
async def test_a_decline_carries_the_provider_s_reason(providers: Pair, provider: Provider) -> None:
    double, api = providers
    double.decline.add("AUTH_poor")
    outcome = await api[provider].charge(Mode.TEST, "AUTH_poor", "a@b.co", Decimal("10"), "NGN", unique("r"))
    assert outcome.verdict is ProviderVerdict.FAILED and outcome.reason == "Insufficient Funds"


@pytest.mark.parametrize("provider", list(Provider))
async def test_a_reference_sent_twice_is_charged_once_and_the_second_answer_is_the_first_s_verdict(
        providers: Pair, provider: Provider) -> None:
    double, api = providers
    reference = unique("r")
    first = await api[provider].charge(Mode.TEST, "AUTH_ok", "a@b.co", Decimal("10"), "NGN", reference)
    again = await api[provider].charge(Mode.TEST, "AUTH_ok", "a@b.co", Decimal("10"), "NGN", reference)
    assert first.verdict is again.verdict is ProviderVerdict.SUCCEEDED
    assert len(double.succeeded(reference)) == 1


@pytest.mark.parametrize("provider", list(Provider))
async def test_a_5xx_or_a_lost_answer_is_an_unknown_outcome_and_verify_tells_it(providers: Pair,
                                                                               provider: Provider) -> None:
    double, api = providers
    double.fail_next = 1
    with pytest.raises(Unavailable):
        await api[provider].charge(Mode.TEST, "AUTH_ok", "a@b.co", Decimal("10"), "NGN", unique("r"))
    double.hang_after_charge, double.hang_s = 1, 1.0
    reference = unique("r")
    with pytest.raises(Unavailable):
        await api[provider].charge(Mode.TEST, "AUTH_ok", "a@b.co", Decimal("10"), "NGN", reference)
    assert (await api[provider].verify(Mode.TEST, reference)).verdict is ProviderVerdict.SUCCEEDED


async def test_a_currency_the_provider_does_not_take_is_refused_before_anything_is_sent(providers: Pair) -> None:
    double, api = providers
    with pytest.raises(FieldError) as refused:
        await api[Provider.PAYSTACK].charge(Mode.TEST, "AUTH_ok", "a@b.co", Decimal("10"), "JPY", unique("r"))
    assert refused.value.param == "currency" and not double.requests


async def test_webhooks_are_recognised_by_the_mode_whose_secret_signs_them(providers: Pair) -> None:
    _, api = providers
    body = encode_json({"event": "charge.success", "data": {"id": 7, "reference": "inv-x-1"}})
    signed = hmac.new(PAYSTACK_KEYS["live"].encode(), body, hashlib.sha512).hexdigest()
    assert api[Provider.PAYSTACK].webhook_mode({"x-paystack-signature": signed}, body) is Mode.LIVE
    assert api[Provider.PAYSTACK].webhook_mode({"x-paystack-signature": signed}, body + b" ") is None
    assert api[Provider.PAYSTACK].webhook_mode({}, body) is None
    notice = api[Provider.PAYSTACK].webhook_notice({"event": "charge.success", "data": {"id": 7, "reference": "r-1"}})
    assert notice is not None and (notice.event_id, notice.reference) == ("charge.success:7", "r-1")
    flw = api[Provider.FLUTTERWAVE]
    assert flw.webhook_mode({"verif-hash": FLUTTERWAVE_HASHES["test"]}, body) is Mode.TEST
    assert flw.webhook_mode({"verif-hash": "guess"}, body) is None
    notice = flw.webhook_notice({"event": "charge.completed", "data": {"id": 9, "tx_ref": "r-2", "status": "failed"}})
    assert notice is not None and (notice.event_id, notice.reference) == ("charge.completed:9", "r-2")


@pytest.mark.parametrize("provider", list(Provider))
async def test_a_completed_checkout_yields_the_reusable_card(providers: Pair, provider: Provider) -> None:
    double, api = providers
    reference = f"setup-{unique('x')}"
    url = await api[provider].start_checkout(Mode.TEST, "a@b.co", Decimal("50.00"), "NGN", reference, None)
    assert url.startswith("https://")
    assert (await api[provider].verify(Mode.TEST, reference)).verdict is not ProviderVerdict.SUCCEEDED
    double.complete_checkout(provider.value, reference, "AUTH_saved")
    outcome = await api[provider].verify(Mode.TEST, reference)
    assert outcome.verdict is ProviderVerdict.SUCCEEDED and outcome.card is not None
    assert outcome.card.token == "AUTH_saved" and outcome.card.last4 and outcome.card.exp_year and outcome.card.reusable


@dataclass
class Subject:
    """A PaymentProvider and the switches of whatever stands behind it (the wire double, or the fake)."""

    api: PaymentProvider
    decline: Callable[[str], None]
    lose_next_answer: Callable[[], None]
    charged: Callable[[str], int]


@pytest.fixture(params=["fake", "paystack", "flutterwave"])
async def subject(request: pytest.FixtureRequest, providers: Pair) -> Subject:
    """The contract the unit tests' fake shares with both real adapters."""
    if request.param == "fake":
        fake = FakeProvider()

        def lose_fake() -> None:
            fake.lose_answers += 1

        return Subject(fake, fake.declined_tokens.add, lose_fake,
                       lambda ref: int(fake.charges.get(ref, (0, None))[1] is ProviderVerdict.SUCCEEDED))
    double, api = providers

    def lose() -> None:
        double.hang_after_charge, double.hang_s = 1, 1.0

    return Subject(api[Provider(request.param)], double.decline.add, lose, lambda ref: len(double.succeeded(ref)))


async def test_contract_a_reference_is_charged_at_most_once_whatever_is_retried(subject: Subject) -> None:
    reference = unique("c").replace("_", "-")
    assert (await subject.api.verify(Mode.TEST, reference)).verdict is ProviderVerdict.NOT_FOUND
    subject.lose_next_answer()
    with pytest.raises(Unavailable):
        await subject.api.charge(Mode.TEST, "AUTH_ok", "a@b.co", Decimal("10.00"), "NGN", reference)
    assert (await subject.api.verify(Mode.TEST, reference)).verdict is ProviderVerdict.SUCCEEDED
    again = await subject.api.charge(Mode.TEST, "AUTH_ok", "a@b.co", Decimal("10.00"), "NGN", reference)
    assert again.verdict is ProviderVerdict.SUCCEEDED and subject.charged(reference) == 1


async def test_contract_a_decline_is_a_failed_verdict_with_a_reason(subject: Subject) -> None:
    subject.decline("AUTH_declined")
    outcome = await subject.api.charge(Mode.TEST, "AUTH_declined", "a@b.co", Decimal("10.00"), "NGN", unique("d"))
    assert outcome.verdict is ProviderVerdict.FAILED and outcome.reason
