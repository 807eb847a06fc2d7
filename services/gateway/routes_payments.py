"""Payments (docs/payments.md): payment methods, initiating and listing a collection's attempts, and the
providers' webhooks. Thin: each route parses, calls one use case (application/payment_methods.py,
collection.py, provider_webhooks.py) and renders.

The provider webhooks carry no API key: they are trusted by their signature (401 otherwise) and then only
for what the provider confirms when asked. Their body is read raw, within the usual limit, because the
signature covers its exact bytes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StringConstraints

from meterflow.application.collection import Collection
from meterflow.application.payment_methods import PaymentMethods
from meterflow.application.provider_webhooks import ProviderWebhooks, WebhookResult
from meterflow.domain.inputs import EmailText, IdText
from meterflow.domain.modes import Mode
from meterflow.domain.payments import Provider, SetupCurrency
from meterflow.domain.presentation import payment_method_json, transaction_json
from services.gateway.authentication import authenticated_mode
from services.gateway.checked_route import MAX_BODY_BYTES, checked_route, read_body
from services.gateway.context import GatewayContext, context
from services.gateway.errors import ApiError, ErrorType
from services.gateway.schemas import _Body, one_json, page_json

router = APIRouter(prefix="/v1", route_class=checked_route())
provider_router = APIRouter(prefix="/v1/providers")

TokenText = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^[!-~]+$")]
UrlText = Annotated[str, StringConstraints(min_length=1, max_length=2_048, pattern=r"^https?://[!-~]+$")]


class _MethodIn(_Body):
    email: EmailText
    default: bool = False


class PaystackMethodIn(_MethodIn):
    provider: Literal[Provider.PAYSTACK]
    authorization_code: TokenText

    @property
    def token(self) -> str:
        return self.authorization_code


class FlutterwaveMethodIn(_MethodIn):
    provider: Literal[Provider.FLUTTERWAVE]
    token: TokenText


# The token's field is the one the provider names: Paystack's `authorization_code`, Flutterwave's `token`.
PaymentMethodIn = Annotated[PaystackMethodIn | FlutterwaveMethodIn, Field(discriminator="provider")]


class SetupIn(_Body):
    provider: Provider
    email: EmailText
    callback_url: UrlText | None = None
    currency: SetupCurrency = SetupCurrency.NGN


class InitiateIn(_Body):
    payment_method_id: IdText | None = None


def collection(ctx: GatewayContext = Depends(context)) -> Collection:
    return ctx.use_cases.collection


def methods(ctx: GatewayContext = Depends(context)) -> PaymentMethods:
    return ctx.use_cases.payment_methods


@router.post("/customers/{customer_id}/payment_methods", status_code=201)
async def attach(customer_id: IdText, body: PaymentMethodIn, mode: Mode = Depends(authenticated_mode),
                 use_case: PaymentMethods = Depends(methods)) -> dict[str, Any]:
    method = await use_case.attach(mode, customer_id, body.provider, body.token, body.email, body.default)
    return one_json("payment_method", payment_method_json(method))


@router.post("/customers/{customer_id}/payment_methods/setup", status_code=201)
async def setup(customer_id: IdText, body: SetupIn, mode: Mode = Depends(authenticated_mode),
                use_case: PaymentMethods = Depends(methods)) -> dict[str, Any]:
    started = await use_case.start_setup(mode, customer_id, body.provider, body.email, body.currency,
                                         body.callback_url)
    return one_json("setup", {"provider": started.provider.value, "reference": started.reference,
                              "authorization_url": started.authorization_url})


@router.get("/customers/{customer_id}/payment_methods/setup/{reference}")
async def finish_setup(customer_id: IdText, reference: IdText, mode: Mode = Depends(authenticated_mode),
                       use_case: PaymentMethods = Depends(methods)) -> dict[str, Any]:
    """Verifies with the provider; the method saved (409 while the checkout is not completed)."""
    return one_json("payment_method", payment_method_json(await use_case.finish_setup(mode, customer_id, reference)))


@router.get("/customers/{customer_id}/payment_methods")
async def list_methods(customer_id: IdText, mode: Mode = Depends(authenticated_mode),
                       use_case: PaymentMethods = Depends(methods)) -> dict[str, Any]:
    items = await use_case.listing(mode, customer_id)
    return page_json("payment_methods", [payment_method_json(m) for m in items], False)


@router.post("/customers/{customer_id}/payment_methods/{method_id}/default")
async def make_default(customer_id: IdText, method_id: IdText, mode: Mode = Depends(authenticated_mode),
                       use_case: PaymentMethods = Depends(methods)) -> dict[str, Any]:
    return one_json("payment_method", payment_method_json(await use_case.make_default(mode, customer_id, method_id)))


@router.delete("/customers/{customer_id}/payment_methods/{method_id}")
async def delete_method(customer_id: IdText, method_id: IdText, mode: Mode = Depends(authenticated_mode),
                        use_case: PaymentMethods = Depends(methods)) -> dict[str, str]:
    await use_case.delete(mode, customer_id, method_id)
    return {"message": "Payment method deleted"}


@router.post("/invoices/{invoice_id}/initiate-payment", status_code=202)
async def initiate(invoice_id: IdText, body: InitiateIn | None = None, mode: Mode = Depends(authenticated_mode),
                   use_case: Collection = Depends(collection)) -> dict[str, Any]:
    """The attempt, stored with its reference; the payment worker charges it at once."""
    asked = body or InitiateIn()
    return one_json("transaction", transaction_json(await use_case.initiate(mode, invoice_id,
                                                                            asked.payment_method_id)))


@router.get("/invoices/{invoice_id}/transactions")
async def list_transactions(invoice_id: IdText, mode: Mode = Depends(authenticated_mode),
                            use_case: Collection = Depends(collection)) -> dict[str, Any]:
    items = await use_case.transactions(mode, invoice_id)
    return page_json("transactions", [transaction_json(t) for t in items], False)


@router.post("/invoices/{invoice_id}/transactions/{transaction_id}/retry", status_code=202)
async def retry(invoice_id: IdText, transaction_id: IdText, mode: Mode = Depends(authenticated_mode),
                use_case: Collection = Depends(collection)) -> dict[str, Any]:
    return one_json("transaction", transaction_json(await use_case.retry(mode, invoice_id, transaction_id)))


def provider_webhooks(ctx: GatewayContext = Depends(context)) -> ProviderWebhooks:
    return ctx.use_cases.provider_webhooks


@provider_router.post("/{provider}/webhooks")
async def provider_webhook(provider: Provider, request: Request,
                           use_case: ProviderWebhooks = Depends(provider_webhooks)) -> dict[str, str]:
    """200 once verified and applied (or recognised as a repeat); 401 when no mode's secret verifies it."""
    body = await read_body(request, MAX_BODY_BYTES)
    headers = {name.lower(): value for name, value in request.headers.items()}
    result = await use_case.receive(provider, headers, body)
    if result is WebhookResult.FORGED:
        raise ApiError(401, ErrorType.AUTHENTICATION, "The webhook's signature does not verify",
                       "x-paystack-signature" if provider is Provider.PAYSTACK else "verif-hash")
    return {"status": result.value}
