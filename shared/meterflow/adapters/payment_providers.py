"""Both payment providers, built from the settings for one process (the gateway, the payment worker) over
one httpx client: each mode uses its own keys, and a mode without a key cannot collect through it."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from meterflow.adapters.flutterwave import Flutterwave
from meterflow.adapters.paystack import Paystack
from meterflow.adapters.provider_http import ProviderClient
from meterflow.domain.modes import Mode
from meterflow.domain.payments import Provider
from meterflow.settings import Settings


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def payment_providers(settings: Settings, client: httpx.AsyncClient) -> dict[Provider, Paystack | Flutterwave]:
    timeout = settings.payment_timeout_s
    paystack = ProviderClient(Provider.PAYSTACK, settings.paystack_base_url,
                              {Mode.TEST: _secret(settings.paystack_secret_key_test),
                               Mode.LIVE: _secret(settings.paystack_secret_key_live)}, timeout, client)
    flutterwave = ProviderClient(Provider.FLUTTERWAVE, settings.flutterwave_base_url,
                                 {Mode.TEST: _secret(settings.flutterwave_secret_key_test),
                                  Mode.LIVE: _secret(settings.flutterwave_secret_key_live)}, timeout, client)
    hashes = {Mode.TEST: _secret(settings.flutterwave_secret_hash_test),
              Mode.LIVE: _secret(settings.flutterwave_secret_hash_live)}
    return {Provider.PAYSTACK: Paystack(paystack), Provider.FLUTTERWAVE: Flutterwave(flutterwave, hashes)}
