"""Payments: a customer's saved cards (`/v1/customers/{id}/payment_methods`, attached from a provider's
reusable token or saved through the provider's hosted checkout) and collecting an invoice with them
(`/v1/invoices/{id}/initiate-payment`, its transactions, a retry). A charge is made by meterflow's payment
worker, at most once per transaction reference: `initiate` and `retry` answer at once with the pending
transaction, and the invoice becomes `paid` (or, after its retries, `uncollectible`) when the provider's
verdict arrives. Amounts are `Decimal`s in the invoice's currency, never floats."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from meterflow_client._models import APIObject, Deleted
from meterflow_client._operations import Call, Resource, S, one, operation, whole
from meterflow_client._wire import given

Provider = Literal["paystack", "flutterwave"]
SetupCurrency = Literal["NGN", "GHS", "ZAR", "USD", "KES", "EGP", "EUR", "GBP"]
TransactionStatus = Literal["pending", "succeeded", "failed", "unknown"]


class PaymentMethod(APIObject):
    """A saved card; the provider's reusable token is never answered (whoever reads it could charge)."""

    id: str
    customer_id: str
    provider: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    email: str
    is_default: bool
    is_test: bool
    created_at: datetime
    updated_at: datetime


class PaymentMethodList(APIObject):
    payment_methods: list[PaymentMethod]
    count: int
    has_more: bool


class PaymentSetup(APIObject):
    """A hosted checkout started: send the customer to `authorization_url`; the provider's webhook saves
    the card, and `finish_setup(reference)` answers it once saved."""

    provider: str
    reference: str
    authorization_url: str


class Transaction(APIObject):
    """One attempt to charge an invoice, under its own provider `reference` (charged at most once)."""

    id: str
    invoice_id: str
    payment_method_id: str | None
    provider: str
    reference: str
    amount: Decimal
    currency: str
    status: str
    failure_reason: str | None
    attempt: int
    next_attempt_at: datetime | None
    is_test: bool
    created_at: datetime
    updated_at: datetime


class TransactionList(APIObject):
    transactions: list[Transaction]
    count: int
    has_more: bool


def _method(customer_id: str, method_id: str, idempotency_key: str | None = None) -> Call[PaymentMethod]:
    return Call(one("payment_method", PaymentMethod), path={"customer_id": customer_id, "method_id": method_id},
                idempotency_key=idempotency_key)


class PaymentMethods(Resource[S]):
    @operation("POST", "/v1/customers/{customer_id}/payment_methods")
    def attach(customer_id: str, *, provider: Provider, email: str, authorization_code: str | None = None,
               token: str | None = None, default: bool | None = None,
               idempotency_key: str | None = None) -> Call[PaymentMethod]:
        """A card the provider already tokenized: Paystack's `authorization_code` or Flutterwave's `token`
        (the one of `provider`). The customer's first method is the default; `default=True` makes this one
        the default."""
        body = given(provider=provider, email=email, authorization_code=authorization_code, token=token,
                     default=default)
        return Call(one("payment_method", PaymentMethod), path={"customer_id": customer_id}, body=body,
                    idempotency_key=idempotency_key)

    @operation("GET", "/v1/customers/{customer_id}/payment_methods")
    def list(customer_id: str) -> Call[PaymentMethodList]:
        """All of the customer's methods (one page)."""
        return Call(whole(PaymentMethodList), path={"customer_id": customer_id})

    @operation("POST", "/v1/customers/{customer_id}/payment_methods/setup")
    def setup(customer_id: str, *, provider: Provider, email: str, callback_url: str | None = None,
              currency: SetupCurrency | None = None, idempotency_key: str | None = None) -> Call[PaymentSetup]:
        """Start saving a card through the provider's hosted checkout (`currency` defaults to NGN)."""
        body = given(provider=provider, email=email, callback_url=callback_url, currency=currency)
        return Call(one("setup", PaymentSetup), path={"customer_id": customer_id}, body=body,
                    idempotency_key=idempotency_key)

    @operation("GET", "/v1/customers/{customer_id}/payment_methods/setup/{reference}")
    def finish_setup(customer_id: str, reference: str) -> Call[PaymentMethod]:
        """The method a hosted checkout saved (404 until the provider's webhook has arrived)."""
        return Call(one("payment_method", PaymentMethod), path={"customer_id": customer_id, "reference": reference})

    @operation("POST", "/v1/customers/{customer_id}/payment_methods/{method_id}/default")
    def set_default(customer_id: str, method_id: str, *, idempotency_key: str | None = None) -> Call[PaymentMethod]:
        return _method(customer_id, method_id, idempotency_key)

    @operation("DELETE", "/v1/customers/{customer_id}/payment_methods/{method_id}")
    def delete(customer_id: str, method_id: str) -> Call[Deleted]:
        return Call(whole(Deleted), path={"customer_id": customer_id, "method_id": method_id})


class Payments(Resource[S]):
    @operation("POST", "/v1/invoices/{invoice_id}/initiate-payment")
    def initiate(invoice_id: str, *, payment_method_id: str | None = None,
                 idempotency_key: str | None = None) -> Call[Transaction]:
        """Charge a finalized invoice now, with `payment_method_id` or the customer's default method."""
        return Call(one("transaction", Transaction), path={"invoice_id": invoice_id},
                    body=given(payment_method_id=payment_method_id), idempotency_key=idempotency_key)

    @operation("GET", "/v1/invoices/{invoice_id}/transactions")
    def transactions(invoice_id: str) -> Call[TransactionList]:
        """Every attempt to charge the invoice, each with its outcome (one page)."""
        return Call(whole(TransactionList), path={"invoice_id": invoice_id})

    @operation("POST", "/v1/invoices/{invoice_id}/transactions/{transaction_id}/retry")
    def retry(invoice_id: str, transaction_id: str, *, idempotency_key: str | None = None) -> Call[Transaction]:
        """That attempt tried again now with its method, as a new transaction under a new reference."""
        return Call(one("transaction", Transaction), path={"invoice_id": invoice_id,
                                                           "transaction_id": transaction_id},
                    idempotency_key=idempotency_key)
