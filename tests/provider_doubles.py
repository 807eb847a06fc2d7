"""A wire double of Paystack and Flutterwave: one real HTTP server (aiohttp, 127.0.0.1, a free port) that
answers the endpoints meterflow calls the way the providers document them, keeps a ledger of charges by
reference, refuses a reference twice (as both providers do), and sends webhooks signed like theirs
(Paystack: `x-paystack-signature` hex HMAC-SHA512 of the body with the secret key; Flutterwave:
`verif-hash` = the secret hash).

Fault switches: `decline` (tokens refused), `fail_next` (5xx without charging), `hang_after_charge` (the
charge is recorded, then the answer never comes in time: a lost response), `hold` (the answer waits until
released: a worker can be killed while the provider holds its request), `webhook_before_answer`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from aiohttp import web

from meterflow.domain.events import decode_json, encode_json

PAYSTACK_KEYS = {"test": "sk_test_double", "live": "sk_live_double"}
FLUTTERWAVE_KEYS = {"test": "FLWSECK_TEST-double", "live": "FLWSECK-double"}
FLUTTERWAVE_HASHES = {"test": "flw-hash-test", "live": "flw-hash-live"}


def provider_settings(base_url: str) -> dict[str, str]:
    """The settings that point meterflow at the double, both modes keyed."""
    return {"paystack_base_url": base_url, "flutterwave_base_url": base_url,
            "paystack_secret_key_test": PAYSTACK_KEYS["test"], "paystack_secret_key_live": PAYSTACK_KEYS["live"],
            "flutterwave_secret_key_test": FLUTTERWAVE_KEYS["test"],
            "flutterwave_secret_key_live": FLUTTERWAVE_KEYS["live"],
            "flutterwave_secret_hash_test": FLUTTERWAVE_HASHES["test"],
            "flutterwave_secret_hash_live": FLUTTERWAVE_HASHES["live"]}


@dataclass
class Charge:
    provider: str
    mode: str
    id: int
    reference: str
    amount: Decimal  # as sent: Paystack subunits, Flutterwave major units
    currency: str
    email: str
    token: str | None
    status: str  # success/failed (Paystack), successful/failed (Flutterwave), or pending (a checkout)
    reason: str


@dataclass
class ProviderDouble:
    port: int = 0
    ledger: dict[tuple[str, str], Charge] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # (method, path, JSON body)
    decline: set[str] = field(default_factory=set)
    fail_next: int = 0
    hang_after_charge: int = 0
    hang_s: float = 30.0
    hold: asyncio.Event | None = None
    held: int = 0
    webhook_before_answer: str | None = None  # a gateway URL: the webhook of a charge goes there first
    arrived_at: dict[str, float] = field(default_factory=dict)  # reference → time.time() of its first charge
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(4_099_260_516))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def succeeded(self, reference_prefix: str = "") -> list[Charge]:
        return [c for c in self.ledger.values()
                if c.reference.startswith(reference_prefix) and c.status in ("success", "successful")]

    def _mode(self, request: web.Request, provider: str) -> str | None:
        keys = PAYSTACK_KEYS if provider == "paystack" else FLUTTERWAVE_KEYS
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return next((mode for mode, key in keys.items() if key == given), None)

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        body = decode_json(raw) if raw else None
        self.requests.append((request.method, request.path_qs, body))
        return body

    async def _charge(self, provider: str, mode: str, body: dict[str, Any], reference: str,
                      token: str) -> Charge | None:
        """The charge made, or None when the reference is known already (checked after any hold, at the
        moment of charging, as a provider's unique reference is)."""
        self.arrived_at.setdefault(reference, time.time())
        if self.hold is not None:
            self.held += 1
            await self.hold.wait()
        if (provider, reference) in self.ledger:
            return None
        declined = token in self.decline
        ok = "success" if provider == "paystack" else "successful"
        charge = Charge(provider, mode, next(self._ids), reference, Decimal(str(body["amount"])), body["currency"],
                        body["email"], token, "failed" if declined else ok,
                        "Insufficient Funds" if declined else "Approved")
        self.ledger[(provider, reference)] = charge
        if self.webhook_before_answer:
            await self.send_webhook(provider, reference, self.webhook_before_answer)
        if self.hang_after_charge > 0:
            self.hang_after_charge -= 1
            await asyncio.sleep(self.hang_s)  # the charge is made; its answer is lost
        return charge

    def _faulty(self) -> web.Response | None:
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.json_response({"status": False, "message": "Service unavailable"}, status=503)
        return None

    # Paystack.
    def paystack_data(self, c: Charge) -> dict[str, Any]:
        card = {"authorization_code": c.token, "bin": "408408", "last4": "4081", "exp_month": "12",
                "exp_year": "2030", "channel": "card", "card_type": "visa ", "bank": "TEST BANK", "country_code": "NG",
                "brand": "visa", "reusable": True, "signature": "SIG_double"} if c.token else None
        return {"id": c.id, "domain": c.mode, "status": c.status, "reference": c.reference, "amount": int(c.amount),
                "gateway_response": c.reason, "currency": c.currency, "channel": "card", "authorization": card,
                "customer": {"email": c.email}}

    async def paystack_charge(self, request: web.Request) -> web.Response:
        mode, body = self._mode(request, "paystack"), await self._body(request)
        if mode is None:
            return web.json_response({"status": False, "message": "Invalid key"}, status=401)
        if (faulty := self._faulty()) is not None:
            return faulty
        if not isinstance(body["amount"], int):
            return web.json_response({"status": False, "message": "Invalid amount"}, status=400)
        charge = await self._charge("paystack", mode, body, body["reference"], body["authorization_code"])
        if charge is None:
            return web.json_response({"status": False, "message": "Duplicate Transaction Reference"}, status=400)
        return web.json_response({"status": True, "message": "Charge attempted", "data": self.paystack_data(charge)})

    async def paystack_verify(self, request: web.Request) -> web.Response:
        mode, _ = self._mode(request, "paystack"), await self._body(request)
        if (faulty := self._faulty()) is not None:
            return faulty
        charge = self.ledger.get(("paystack", request.match_info["reference"]))
        if mode is None or charge is None or charge.mode != mode:
            return web.json_response({"status": False, "message": "Transaction reference not found"}, status=400)
        return web.json_response({"status": True, "message": "Verification successful",
                                  "data": self.paystack_data(charge)})

    async def paystack_initialize(self, request: web.Request) -> web.Response:
        mode, body = self._mode(request, "paystack"), await self._body(request)
        if mode is None:
            return web.json_response({"status": False, "message": "Invalid key"}, status=401)
        self.ledger[("paystack", body["reference"])] = Charge(
            "paystack", mode, next(self._ids), body["reference"], Decimal(str(body["amount"])), body["currency"],
            body["email"], None, "abandoned", "The transaction was not completed")
        code = hashlib.sha1(body["reference"].encode()).hexdigest()[:15]
        return web.json_response({"status": True, "message": "Authorization URL created",
                                  "data": {"authorization_url": f"https://checkout.paystack.com/{code}",
                                           "access_code": code, "reference": body["reference"]}})

    # Flutterwave.
    def flutterwave_data(self, c: Charge) -> dict[str, Any]:
        card = {"first_6digits": "553188", "last_4digits": "2950", "issuer": "MASTERCARD  CREDIT",
                "country": "NG", "type": "MASTERCARD", "token": c.token, "expiry": "09/32"} if c.token else None
        return {"id": c.id, "tx_ref": c.reference, "flw_ref": f"FLW-MOCK-{c.id}", "amount": c.amount,
                "charged_amount": c.amount, "currency": c.currency, "processor_response": c.reason,
                "status": c.status, "payment_type": "card", "customer": {"email": c.email}, "card": card}

    async def flutterwave_charge(self, request: web.Request) -> web.Response:
        mode, body = self._mode(request, "flutterwave"), await self._body(request)
        if mode is None:
            return web.json_response({"status": "error", "message": "Invalid authorization key", "data": None},
                                     status=401)
        if (faulty := self._faulty()) is not None:
            return faulty
        charge = await self._charge("flutterwave", mode, body, body["tx_ref"], body["token"])
        if charge is None:
            return web.json_response({"status": "error", "message": "Duplicate transaction reference",
                                      "data": None}, status=400)
        if charge.status == "failed":
            return web.json_response({"status": "error", "message": charge.reason, "data": None}, status=400)
        return self._json({"status": "success", "message": "Charge successful", "data": self.flutterwave_data(charge)})

    async def flutterwave_verify(self, request: web.Request) -> web.Response:
        mode, _ = self._mode(request, "flutterwave"), await self._body(request)
        if (faulty := self._faulty()) is not None:
            return faulty
        charge = self.ledger.get(("flutterwave", request.query.get("tx_ref", "")))
        if mode is None or charge is None or charge.mode != mode:
            return web.json_response({"status": "error", "message": "No transaction was found for this id",
                                      "data": None}, status=400)
        return self._json({"status": "success", "message": "Transaction fetched successfully",
                           "data": self.flutterwave_data(charge)})

    async def flutterwave_payments(self, request: web.Request) -> web.Response:
        mode, body = self._mode(request, "flutterwave"), await self._body(request)
        if mode is None:
            return web.json_response({"status": "error", "message": "Invalid authorization key"}, status=401)
        self.ledger[("flutterwave", body["tx_ref"])] = Charge(
            "flutterwave", mode, next(self._ids), body["tx_ref"], Decimal(str(body["amount"])), body["currency"],
            body["customer"]["email"], None, "pending", "Pending")
        return web.json_response({"status": "success", "message": "Hosted Link",
                                  "data": {"link": f"https://checkout.flutterwave.com/v3/hosted/pay/{body['tx_ref']}"}})

    def _json(self, body: Any) -> web.Response:
        return web.Response(body=encode_json(body), content_type="application/json")

    # What happens on the provider's side, and its webhooks.
    def complete_checkout(self, provider: str, reference: str, token: str) -> None:
        """The customer paid on the hosted checkout with a card the provider tokenized as `token`."""
        charge = self.ledger[(provider, reference)]
        charge.token, charge.status = token, ("success" if provider == "paystack" else "successful")
        charge.reason = "Approved"

    def webhook(self, provider: str, reference: str) -> tuple[bytes, dict[str, str]]:
        """The body and headers the provider sends about a reference, signed for the charge's mode."""
        charge = self.ledger[(provider, reference)]
        if provider == "paystack":
            event = "charge.success" if charge.status == "success" else "charge.failed"
            body = encode_json({"event": event, "data": self.paystack_data(charge)})
            signature = hmac.new(PAYSTACK_KEYS[charge.mode].encode(), body, hashlib.sha512).hexdigest()
            return body, {"x-paystack-signature": signature, "Content-Type": "application/json"}
        body = encode_json({"event": "charge.completed", "data": self.flutterwave_data(charge),
                            "event.type": "CARD_TRANSACTION"})
        return body, {"verif-hash": FLUTTERWAVE_HASHES[charge.mode], "Content-Type": "application/json"}

    async def send_webhook(self, provider: str, reference: str, gateway_url: str) -> httpx.Response:
        body, headers = self.webhook(provider, reference)
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(f"{gateway_url}/v1/providers/{provider}/webhooks", content=body, headers=headers)


@asynccontextmanager
async def provider_double() -> AsyncIterator[ProviderDouble]:
    double = ProviderDouble()
    app = web.Application()
    app.router.add_post("/transaction/charge_authorization", double.paystack_charge)
    app.router.add_get("/transaction/verify/{reference}", double.paystack_verify)
    app.router.add_post("/transaction/initialize", double.paystack_initialize)
    app.router.add_post("/v3/tokenized-charges", double.flutterwave_charge)
    app.router.add_get("/v3/transactions/verify_by_reference", double.flutterwave_verify)
    app.router.add_post("/v3/payments", double.flutterwave_payments)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", double.port)
    await site.start()
    double.port = runner.addresses[0][1]
    try:
        yield double
    finally:
        if double.hold is not None:
            double.hold.set()
        await runner.cleanup()
