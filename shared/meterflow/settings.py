"""The one typed settings object. Every knob is an `MF_*` environment variable with a documented default.

A service left unset (`MF_KAFKA_BOOTSTRAP`, `MF_REDIS_URL`, `MF_DATABASE_URL`) means "the embedded one":
`meterflow run` starts it on the `MF_EMBEDDED_*_PORT` port and every process derives the same address.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from meterflow.domain.events import AcceptancePolicy
from meterflow.domain.modes import Mode
from meterflow.domain.payments import DEFAULT_DUNNING, parse_schedule


def _seconds_list(value: Any) -> Any:
    """`30,300,1800` (or the same in brackets) from the environment; a sequence as it is."""
    if isinstance(value, str):
        return tuple(float(part) for part in value.strip("()[] ").split(",") if part.strip())
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MF_", frozen=True)

    kafka_bootstrap: str | None = Field(None, description="host:port of a Kafka broker; unset = embedded")
    redis_url: str | None = Field(None, description="redis:// URL; unset = embedded")
    database_url: str | None = Field(None, description="postgresql:// URL; unset = embedded")

    embedded_kafka_port: int = 9092
    embedded_redis_port: int = 6379
    embedded_postgres_port: int = 5432
    data_dir: Path = Field(Path(".data"), description="where embedded servers keep their data")

    api_host: str = "127.0.0.1"
    api_port: int = 8080
    gateway_workers: int = Field(1, ge=1, description="gateway processes serving api_port (stateless: any "
                                 "number; about one per core left to the gateway)")
    processor_web_host: str = Field("127.0.0.1", description="where the processor serves /metrics, /readyz")
    processor_web_port: int = 8081
    closer_web_port: int = 8082

    events_topic_test: str = "meterflow.events.test"
    events_topic_live: str = "meterflow.events.live"
    dlq_topic: str = "meterflow.events.dlq"
    topic_partitions: int = 4
    topic_replication_factor: int = Field(1, description="for topics meterflow creates; 3 on a real cluster")

    dedupe_window_s: int = Field(7 * 86_400, description="W: max event age accepted, and key memory")
    clock_skew_s: int = Field(300, description="extra key memory beyond W, and future tolerance")
    rollup_retention_s: int = Field(400 * 86_400, description="how long hourly rollups are kept")
    dedupe_mark_bucket_bits: int = Field(12, ge=8, le=16, description="2^bits small hashes hold the keys "
                                         "remembered in one slice of time (W + 2 x skew): about keys per "
                                         "slice / 300, so each stays a listpack (docs/exactly-once.md)")

    kafka_session_timeout_s: float = Field(10.0, description="consumer-group session timeout")
    kafka_heartbeat_interval_s: float = 3.0
    processor_batch_max: int = 2_000
    processor_batch_within_s: float = 0.05
    processor_commit_interval_s: float = 1.0
    processor_fetch_max_wait_ms: int = Field(100, description="longest a consumer fetch waits for data")
    processor_id: str = "meterflow-processor"
    processor_stall_after_s: float = Field(60.0, description="oldest unprocessed record older than this: "
                                           "the processor is stalled (/readyz 503, metric)")

    close_grace_s: int = Field(3_600, description="how long after period end the closer waits")
    close_interval_s: float = Field(30.0, description="how often the closer looks for due periods")

    log_level: str = "INFO"
    api_key_cache_s: float = Field(5.0, description="how long a gateway trusts a key it has checked: a "
                                   "revoked key is refused everywhere within this")
    api_rate_limit_per_s: int = Field(1_000, ge=0, description="requests a second per API key across every "
                                      "gateway (429 with Retry-After past it); 0 = no limit")
    org_id: str = Field("org_meterflow", description="the one organisation of this deployment (`org_id`)")

    supervisor_web_port: int = Field(8090, description="where `meterflow run` serves its /metrics")
    drain_timeout_s: float = Field(30.0, description="how long a stop waits for acknowledged events to count")
    restart_limit: int = Field(5, description="restarts of one child within restart_window_s before giving up")
    restart_window_s: float = 60.0
    processor_rejoin_timeout_s: float = Field(60.0, description="a processor holding no partition, or whose "
                                              "topics are gone, this long exits to be restarted and rejoin")

    @model_validator(mode="after")
    def _lease_covers_an_attempt(self) -> Settings:
        # A worker sends only while its lease covers a whole attempt: a shorter lease would send nothing.
        if self.webhook_lease_s <= self.webhook_timeout_s:
            raise ValueError("webhook_lease_s must exceed webhook_timeout_s")
        if self.payment_lease_s <= 2 * self.payment_timeout_s:  # a verify then a charge, within one lease
            raise ValueError("payment_lease_s must exceed twice payment_timeout_s")
        return self

    @property
    def kafka_servers(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.embedded_kafka_port}"

    @property
    def redis_dsn(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.embedded_redis_port}/0"

    @property
    def database_dsn(self) -> str:
        return self.database_url or f"postgresql://postgres@127.0.0.1:{self.embedded_postgres_port}/meterflow"

    @property
    def acceptance_policy(self) -> AcceptancePolicy:
        """Events older than W or more than the clock skew ahead are refused, on both ingest paths."""
        return AcceptancePolicy(timedelta(seconds=self.dedupe_window_s), timedelta(seconds=self.clock_skew_s))

    def events_topic(self, mode: Mode) -> str:
        return self.events_topic_live if mode is Mode.LIVE else self.events_topic_test

    def mode_of_topic(self, topic: str) -> Mode | None:
        return {self.events_topic_test: Mode.TEST, self.events_topic_live: Mode.LIVE}.get(topic)

    # Webhooks (api.md "Webhooks", README "Webhooks").
    webhook_web_port: int = Field(8083, description="where the webhook delivery worker serves /metrics, /readyz")
    webhook_retry_schedule_s: Annotated[tuple[float, ...], NoDecode, BeforeValidator(_seconds_list)] = Field(
        (30.0, 300.0, 1_800.0, 7_200.0, 28_800.0),
        description="wait before each retry after a failed attempt; failed after the last (env: `30,300,1800`)")
    webhook_timeout_s: float = Field(10.0, description="a 2xx within this is success")
    webhook_lease_s: float = Field(30.0, description="how long a claimed delivery is a worker's: one killed "
                                   "mid-delivery is sent again after this")
    webhook_poll_interval_s: float = Field(0.5, description="how often the worker looks for due deliveries "
                                           "(besides being woken by each new event)")
    webhook_claim_batch: int = Field(200, description="deliveries claimed per round by one worker")
    webhook_allow_private_urls: bool = Field(False, description="let live endpoints resolve to loopback, private "
                                             "or link-local addresses")
    webhook_retention_s: int = Field(30 * 86_400, description="how long a webhook event whose deliveries are "
                                     "all done (succeeded or failed) is kept, with its deliveries and attempts")

    # Payments (docs/payments.md): a provider is usable in a mode once that mode's secret key is set.
    paystack_secret_key_test: SecretStr | None = None
    paystack_secret_key_live: SecretStr | None = None
    paystack_base_url: str = Field("https://api.paystack.co", description="Paystack's API (a test double's in tests)")
    flutterwave_secret_key_test: SecretStr | None = None
    flutterwave_secret_key_live: SecretStr | None = None
    flutterwave_secret_hash_test: SecretStr | None = Field(None, description="the `verif-hash` Flutterwave sends")
    flutterwave_secret_hash_live: SecretStr | None = None
    flutterwave_base_url: str = Field("https://api.flutterwave.com", description="Flutterwave's API (v3 paths)")
    auto_collect: bool = Field(True, description="charge a collection invoice's default method on finalize")
    dunning_schedule: str = Field(DEFAULT_DUNNING, description="wait before each retry after a declined charge, "
                                  "then uncollectible (units s, m, h, d)")
    payments_web_port: int = Field(8084, description="where the payment worker serves /metrics, /readyz")
    payment_timeout_s: float = Field(20.0, description="longest wait for a provider's answer; past it the "
                                     "outcome is unknown and the reference is verified")
    payment_lease_s: float = Field(60.0, description="how long a claimed invoice is a worker's: one killed "
                                   "mid-charge is verified by another after this")
    payment_recheck_s: float = Field(30.0, description="wait before asking a provider again about an unknown "
                                     "or pending outcome")
    payment_poll_interval_s: float = Field(1.0, description="how often the worker looks for due charges "
                                           "(besides being woken by each finalize)")
    payment_claim_batch: int = Field(20, description="invoices claimed per round by one worker")

    @field_validator("dunning_schedule")
    @classmethod
    def _dunning_schedule_parses(cls, value: str) -> str:
        parse_schedule(value)
        return value

    # Events on record (billing.md §6): monthly partitions wholly older than this are dropped.
    event_record_retention_s: int = Field(400 * 86_400, description="how long events on record are kept")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once per process (never at import time)."""
    return Settings()
