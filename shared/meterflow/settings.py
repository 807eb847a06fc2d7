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

from meterflow.domain.edge_figures import EdgeRules
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
    redis_url: str | None = Field(None, description="redis://host:port/db for one server, or "
                                  "redis+cluster://host:port (any master) for a Redis Cluster; unset = embedded")
    database_url: str | None = Field(None, description="postgresql:// URL; unset = embedded")

    embedded_kafka_port: int = Field(9092, description="port of the embedded Kafka-protocol broker (Tansu)")
    embedded_redis_port: int = Field(6379, description="port of the embedded Redis-compatible server (Valkey)")
    embedded_postgres_port: int = Field(5432, description="port of the embedded PostgreSQL")
    data_dir: Path = Field(Path(".data"), description="where the embedded servers (and the processor) keep "
                           "their data")

    api_host: str = Field("127.0.0.1", description="address the HTTP API binds (the closer's and the webhook "
                          "worker's health servers too)")
    api_port: int = Field(8080, description="port of the HTTP API")
    gateway_workers: int = Field(1, ge=1, description="gateway processes serving MF_API_PORT (any number, "
                                 "each with its own spool directory; about one per core left to the gateway)")
    http_head_timeout_s: float = Field(10.0, gt=0, description="a request's line and headers must arrive within "
                                       "this of their first byte (of the connection, for its first request), "
                                       "else 408 and the connection is closed")
    http_body_timeout_s: float = Field(30.0, gt=0, description="a request's whole body must arrive within this of "
                                       "its headers, else the connection is closed (1 MiB in 30 s: 35 KB/s)")
    http_keep_alive_s: int = Field(5, ge=1, description="an idle kept-alive connection is closed after this")
    http_max_head_bytes: int = Field(16_384, ge=1_024, description="a request line and headers larger than this "
                                     "are refused (400) and the connection closed")
    processor_web_host: str = Field("127.0.0.1", description="where the processor serves /metrics, /readyz")
    processor_web_port: int = Field(8081, description="port of the processor's /healthz, /readyz, /metrics")
    closer_web_port: int = Field(8082, description="port of the closer's /healthz, /readyz, /metrics")

    events_topic_test: str = Field("meterflow.events.test", description="topic of test-mode events")
    events_topic_live: str = Field("meterflow.events.live", description="topic of live-mode events")
    dlq_topic: str = Field("meterflow.events.dlq", description="dead-letter topic: records the processor "
                           "could not count, with the reason")
    topic_partitions: int = Field(4, description="partitions of the topics meterflow creates: the most "
                                  "processors one consumer group can use")
    topic_replication_factor: int = Field(1, description="for topics meterflow creates; 3 on a real cluster")

    dedupe_window_s: int = Field(7 * 86_400, description="W: the oldest event accepted, and how long "
                                 "idempotency keys are remembered (7 days)")
    clock_skew_s: int = Field(300, description="how far ahead of the receiver an event may be "
                              "stamped, and extra key memory beyond W")
    rollup_retention_s: int = Field(400 * 86_400, description="how long hourly rollups are kept (400 days)")
    dedupe_mark_bucket_bits: int = Field(16, ge=8, le=32, description="2^bits packed strings hold the keys "
                                         "remembered in one slice of time (W + 2 x skew): about keys per "
                                         "slice / 300, i.e. log2(events/s x 2,018) rounded up, 4 fewer on a "
                                         "Redis Cluster; 16 fits up to ~32 events/s (docs/scaling.md)")

    kafka_session_timeout_s: float = Field(10.0, description="consumer-group session timeout (`make run` uses "
                                           "3 on the embedded broker, where a joining member waits it out)")
    kafka_heartbeat_interval_s: float = Field(3.0, description="consumer-group heartbeat interval "
                                              "(`make run` uses 1 on the embedded broker)")
    processor_batch_max: int = Field(2_000, description="most records the processor counts in one batch")
    processor_batch_within_s: float = Field(0.05, description="longest the processor waits to fill a batch")
    processor_commit_interval_s: float = Field(1.0, description="how often the processor commits offsets")
    processor_fetch_max_wait_ms: int = Field(100, description="longest a consumer fetch waits for data "
                                             "(bounds ingest-to-usage latency)")
    processor_id: str = Field("meterflow-processor", description="Faust app id and consumer group: "
                              "processors sharing it split the partitions")
    processor_stall_after_s: float = Field(60.0, description="oldest unprocessed record older than this: "
                                           "the processor is stalled (/readyz 503, metric)")

    close_grace_s: int = Field(3_600, description="how long after a period's end the closer waits "
                               "before invoicing it (late events' grace)")
    close_interval_s: float = Field(30.0, description="how often the closer looks for due periods "
                                  "and replay jobs")
    alert_retry_s: float = Field(1.0, gt=0, description="how long the processor waits before evaluating "
                                 "alerts again after a dependency was away (docs/wallets.md, \"Alerts\")")

    # Usage to the second (docs/usage-edges.md): a period's partial edge hours are folded once from the
    # events on record and kept; these bound the folds a gateway process runs for usage and drafts.
    usage_recount_slots: int = Field(4, ge=1, description="edge recounts a gateway process runs at once")
    usage_recount_queue: int = Field(16, ge=1, description="usage and draft calls waiting for edge recounts "
                                     "they started, at once in a gateway process (past it: 503 with "
                                     "Retry-After), and recounts going on for calls told to retry")
    usage_recount_wait_s: float = Field(5.0, ge=0, description="longest a usage or draft call waits for edge "
                                        "recounts before answering 503 with Retry-After (the recount goes on)")
    usage_edge_keep_from_events: int = Field(1_000, ge=0, description="an edge folded from at least this many "
                                             "events is kept for later calls; smaller ones are folded each time")

    log_level: str = Field("INFO", description="log level of every service")
    api_key_cache_s: float = Field(5.0, description="how long a gateway trusts a key it has checked: a "
                                   "revoked key is refused everywhere within this")
    api_rate_limit_per_s: int = Field(1_000, ge=0, description="requests a second per API key across every "
                                      "gateway (429 with Retry-After past it); 0 = no limit")
    console_session_s: int = Field(8 * 3_600, ge=60, description="how long an ops-console sign-in lasts "
                                   "(the session is kept server-side and forgotten at this age or at sign-out)")
    public_url: str | None = Field(None, description="the address customers reach the gateway at (such as "
                                   "https://billing.example.com), the start of every portal link; unset = "
                                   "http://MF_API_HOST:MF_API_PORT")
    org_id: str = Field("org_meterflow", description="the `org_id` every object carries (one organisation "
                                 "per deployment)")

    supervisor_web_port: int = Field(8090, description="where `meterflow run` serves its own /metrics "
                                     "(service restarts)")
    drain_timeout_s: float = Field(30.0, description="how long a stop of `meterflow run` waits for "
                                  "acknowledged events to be counted; past it, exit 1 naming what is left")
    restart_limit: int = Field(5, description="exits of one child of `meterflow run` within "
                               "MF_RESTART_WINDOW_S that make a crash loop: everything stops, exit 1")
    restart_window_s: float = Field(60.0, description="the window MF_RESTART_LIMIT counts exits in")
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
    def public_base_url(self) -> str:
        """Where portal links point: MF_PUBLIC_URL, else the gateway's own address (127.0.0.1 for a
        gateway bound to every interface, which is no address to send anyone to)."""
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "::", "") else self.api_host
        return (self.public_url or f"http://{host}:{self.api_port}").rstrip("/")

    @property
    def spool_path(self) -> Path:
        return self.spool_dir or self.data_dir / "spool"

    @property
    def acceptance_policy(self) -> AcceptancePolicy:
        """Events older than W or more than the clock skew ahead are refused, on both ingest paths."""
        return AcceptancePolicy(timedelta(seconds=self.dedupe_window_s), timedelta(seconds=self.clock_skew_s))

    @property
    def edge_rules(self) -> EdgeRules:
        return EdgeRules(self.usage_edge_keep_from_events, timedelta(seconds=self.clock_skew_s))

    def events_topic(self, mode: Mode) -> str:
        return self.events_topic_live if mode is Mode.LIVE else self.events_topic_test

    def mode_of_topic(self, topic: str) -> Mode | None:
        return {self.events_topic_test: Mode.TEST, self.events_topic_live: Mode.LIVE}.get(topic)

    # Webhooks (docs/api.md "Webhooks", docs/operations.md "Webhooks").
    webhook_web_port: int = Field(8083, description="where the webhook delivery worker serves /metrics, /readyz")
    webhook_retry_schedule_s: Annotated[tuple[float, ...], NoDecode, BeforeValidator(_seconds_list)] = Field(
        (30.0, 300.0, 1_800.0, 7_200.0, 28_800.0),
        description="waits before each retry after a failed attempt; `failed` after the last (comma-separated "
                    "seconds)")
    webhook_timeout_s: float = Field(10.0, description="a 2xx within this is success")
    webhook_lease_s: float = Field(30.0, description="how long a claimed delivery is a worker's (more "
                                   "than MF_WEBHOOK_TIMEOUT_S): one killed mid-delivery is sent again after this")
    webhook_poll_interval_s: float = Field(0.5, description="how often the worker looks for due deliveries "
                                           "(besides being woken by each new event)")
    webhook_claim_batch: int = Field(200, description="deliveries claimed per round by one worker")
    webhook_allow_private_urls: bool = Field(False, description="let live endpoints resolve to addresses that "
                                             "are not globally routable unicast (loopback, private, CGNAT...)")
    webhook_retention_s: int = Field(30 * 86_400, description="how long a webhook event whose deliveries are "
                                     "all done (succeeded or failed) is kept, with its deliveries and attempts "
                                     "(30 days; the closer removes older ones)")

    # The gateway's write-ahead spool (docs/spool.md).
    spool_enabled: bool = Field(True, description="acknowledge ingested events once on the gateway's disk "
                                "(and in Kafka while it is up); false: only once Kafka acknowledged them")
    spool_dir: Path | None = Field(None, description="where each gateway process keeps its spool (a "
                                   "`worker-N` folder each); unset = <data_dir>/spool")
    spool_max_bytes: int = Field(1 << 30, ge=1 << 20, description="disk budget of one gateway process's "
                                 "spool: past it, ingest answers 503 with Retry-After until Kafka is back")
    spool_segment_bytes: int = Field(16 << 20, ge=1 << 16, description="size of one spool segment file "
                                     "(the unit freed once its events are counted)")
    spool_forward_wait_s: float = Field(2.0, ge=0, description="while Kafka is up, how long a 202 waits for "
                                        "Kafka's acknowledgement besides the disk's")
    spool_confirm_interval_s: float = Field(1.0, gt=0, description="how often the spool asks which forwarded "
                                            "events are counted")

    # Payments (docs/payments.md): a provider is usable in a mode once that mode's secret key is set.
    paystack_secret_key_test: SecretStr | None = Field(None, description="Paystack secret key of test mode "
                                                       "(sk_test_…); also verifies its webhooks")
    paystack_secret_key_live: SecretStr | None = Field(None, description="Paystack secret key of live mode "
                                                       "(sk_live_…)")
    paystack_base_url: str = Field("https://api.paystack.co", description="Paystack's API (a test double's in tests)")
    flutterwave_secret_key_test: SecretStr | None = Field(None, description="Flutterwave secret key of test mode")
    flutterwave_secret_key_live: SecretStr | None = Field(None, description="Flutterwave secret key of live mode")
    flutterwave_secret_hash_test: SecretStr | None = Field(None, description="the `verif-hash` Flutterwave sends "
                                                           "with test-mode webhooks (set on its dashboard)")
    flutterwave_secret_hash_live: SecretStr | None = Field(None, description="the `verif-hash` of live-mode "
                                                           "webhooks")
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

    # Accounting (docs/accounting.md).
    accounting_retention_s: int = Field(40 * 86_400, description="how long the per-hour accounting figures "
                                        "are kept after their hour ends (also the longest reconciliation window)")

    # Events on record (docs/billing.md "Events on record"): monthly partitions wholly older are dropped.
    event_record_retention_s: int = Field(400 * 86_400, description="how long events on record are kept "
                                          "(400 days; the closer drops whole monthly partitions)")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once per process (never at import time)."""
    return Settings()
