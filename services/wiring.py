"""The settings turned into the parameters of the adapters that several processes build (the Kafka topics, the
usage store, the payment providers): each composition root calls these, so the adapters take plain parameters
and never the whole settings object, and no two processes build one differently."""

from __future__ import annotations

from datetime import timedelta

import httpx
from pydantic import SecretStr

from meterflow.adapters.accounting_store import AccountingStore
from meterflow.adapters.flutterwave import Flutterwave
from meterflow.adapters.kafka import KafkaSetup
from meterflow.adapters.paystack import Paystack
from meterflow.adapters.provider_http import ProviderClient
from meterflow.adapters.redis_client import RedisClient
from meterflow.adapters.usage_store import UsageStore
from meterflow.application.collection import Collection
from meterflow.application.ports.payments import PaymentUnitOfWorkFactory, Providers
from meterflow.clock import Clock
from meterflow.domain.modes import Mode
from meterflow.domain.payments import Provider, parse_schedule
from meterflow.settings import Settings


def kafka_setup(settings: Settings) -> KafkaSetup:
    return KafkaSetup(settings.kafka_servers, (settings.events_topic_test, settings.events_topic_live),
                      settings.dlq_topic, settings.topic_partitions, settings.topic_replication_factor,
                      settings.processor_id)


def usage_store(redis: RedisClient, settings: Settings) -> UsageStore:
    """The rollups and dedupe marks, with the accounting figures written in the same transactions."""
    return UsageStore(redis, dedupe_window=timedelta(seconds=settings.dedupe_window_s),
                      clock_skew=timedelta(seconds=settings.clock_skew_s),
                      retention=timedelta(seconds=settings.rollup_retention_s),
                      mark_bucket_bits=settings.dedupe_mark_bucket_bits,
                      accounting=AccountingStore(redis, timedelta(seconds=settings.accounting_retention_s)))


def collection(settings: Settings, unit_of_work: PaymentUnitOfWorkFactory, providers: Providers,
               clock: Clock) -> Collection:
    """Collection as the payment worker runs it and the API's retries and provider webhooks call it."""
    return Collection(unit_of_work, providers, clock, parse_schedule(settings.dunning_schedule),
                      timedelta(seconds=settings.payment_recheck_s), timedelta(seconds=settings.payment_lease_s),
                      settings.org_id)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def payment_providers(settings: Settings, client: httpx.AsyncClient) -> dict[Provider, Paystack | Flutterwave]:
    """Both providers over one HTTP client: each mode uses its own keys, and a mode without a key cannot
    collect through it."""
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
