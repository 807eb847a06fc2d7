"""Every Prometheus metric meterflow exports, defined once; services expose them on `/metrics`.

Label values are closed sets (modes, field names, reasons), never ids from requests, except
`metric_id` on unbillable events: ops need to know which metric cannot read its events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from meterflow.domain.alerts import AlertFiring

EVENTS_ACCEPTED = Counter("meterflow_events_accepted_total", "Events acknowledged by the broker at ingest",
                          ["mode"])
EVENTS_REJECTED = Counter("meterflow_events_rejected_total", "Events refused at ingest, by field at fault",
                          ["reason"])
DUPLICATES_DROPPED = Counter("meterflow_duplicates_dropped_total",
                             "Events not counted because their idempotency key was already counted", ["stage"])
EVENTS_COUNTED = Counter("meterflow_events_counted_total", "Events counted into rollups", ["mode"])
DEAD_LETTERS = Counter("meterflow_dead_letters_total", "Records sent to the dead-letter topic", ["reason"])
UNBILLABLE_EVENTS = Counter("meterflow_unbillable_events_total",
                            "Events a metric could not read (missing or non-numeric property)", ["metric_id"])
LATE_EVENTS = Counter("meterflow_late_events_total", "Counted events whose period was already finalized",
                      ["mode"])
HTTP_RESPONSES = Counter("meterflow_http_responses_total", "Answers the gateway sent, by status class (2xx ... "
                         "5xx); a client gone before its answer is counted in client disconnects instead",
                         ["status_class"])
HTTP_CLIENT_DISCONNECTS = Counter("meterflow_http_client_disconnects_total",
                                  "Requests whose client closed the connection before the request was read "
                                  "(nothing is answered: not an error of the gateway)")
HTTP_SLOW_CLIENTS_CLOSED = Counter("meterflow_http_slow_clients_closed_total",
                                   "Connections the gateway closed because a request's head or body did not "
                                   "arrive in time (MF_HTTP_HEAD_TIMEOUT_S, MF_HTTP_BODY_TIMEOUT_S)", ["stage"])
PROCESSING_LATENCY = Histogram(
    "meterflow_processing_latency_seconds", "From the record's broker timestamp to its effect being durable",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
CONSUMER_LAG = Gauge("meterflow_consumer_lag", "Records behind the partition's end", ["topic", "partition"])
ALERTS_FIRED = Counter("meterflow_alerts_fired_total", "Alert thresholds fired (each once per period or drop), "
                       "counted by the process that fired them (processor: usage and cost, closer: after a "
                       "replay; gateway: balance)",
                       ["type"])
ALERT_EVALUATION_FAILURES = Counter("meterflow_alert_evaluation_failures_total",
                                    "Alert evaluations that failed, by outcome: retried (a dependency was away: "
                                    "its customers are evaluated again) or dropped (left to their next change), "
                                    "and skipped (one alert that could not be observed)", ["outcome"])
INVOICES_CLOSED = Counter("meterflow_invoices_closed_total", "Finalized invoices written by period close")
PROCESSOR_ASSIGNED_PARTITIONS = Gauge("meterflow_processor_assigned_partitions",
                                      "Events-topic partitions this processor holds (0 for long: it rejoins)")
SERVICE_RESTARTS = Counter("meterflow_service_restarts_total",
                           "Children `meterflow run` restarted after they exited (services and embedded servers)",
                           ["service"])
CLOSE_DURATION = Histogram("meterflow_close_duration_seconds", "Duration of one period-close run",
                           buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
PROCESSOR_OLDEST_UNPROCESSED_AGE = Gauge(
    "meterflow_processor_oldest_unprocessed_age_seconds",
    "Age (from its broker timestamp) of the oldest record taken but not yet counted or dead-lettered; 0 idle")
PROCESSOR_STALLED = Gauge("meterflow_processor_stalled",
                          "1 while the oldest unprocessed record is older than MF_PROCESSOR_STALL_AFTER_S")
SPOOL_BYTES = Gauge("meterflow_spool_bytes", "Bytes of this gateway process's spool on disk")
SPOOL_EVENTS = Gauge("meterflow_spool_events", "Acknowledged events in the spool not yet known to be counted")
SPOOL_OLDEST_UNFORWARDED_AGE = Gauge(
    "meterflow_spool_oldest_unforwarded_age_seconds",
    "Age (from its receipt) of the oldest acknowledged event not yet in Kafka; 0 when none waits")

# Accounting (docs/accounting.md): refreshed by the gateway at each scrape, and by
# `meterflow run` after a loss check.
ACCOUNTING_OLDEST_IN_FLIGHT_AGE = Gauge(
    "meterflow_accounting_oldest_in_flight_age_seconds",
    "Seconds since the end of the oldest hour of receipt that still has events in flight (0: none, or only "
    "the current hour); past MF_PROCESSOR_STALL_AFTER_S, counting is behind or events were lost", ["mode"])
ACCOUNTING_IN_FLIGHT = Gauge("meterflow_accounting_in_flight",
                             "Events acknowledged and not yet counted, found duplicate or dead-lettered", ["mode"])
EVENTS_LOST = Gauge("meterflow_events_lost",
                    "Acknowledged events a loss check found gone with the broker, not yet acknowledged by ops",
                    ["mode"])
HOURS_LOST = Gauge("meterflow_hours_lost", "Hours of receipt with lost events not yet acknowledged by ops",
                   ["mode"])
ACKNOWLEDGED_TALLY_FAILURES = Counter("meterflow_acknowledged_tally_failures_total",
                                      "Events acknowledged over HTTP whose acknowledged tally could not be written")


def metrics_payload() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


Probe = Callable[[], Awaitable[object]]


async def readiness(probes: Mapping[str, Probe], timeout_s: float = 2.0) -> tuple[bool, dict[str, str]]:
    """Run each dependency probe; ready only if every one answers in time."""
    async def check(probe: Probe) -> str:
        try:
            await asyncio.wait_for(probe(), timeout=timeout_s)
            return "ok"
        except Exception as exc:
            return f"error: {type(exc).__name__}"

    names = list(probes)
    results = await asyncio.gather(*(check(probes[n]) for n in names))
    checks = dict(zip(names, results, strict=True))
    return all(v == "ok" for v in results), checks


def health_app(probes: Mapping[str, Probe]) -> web.Application:
    """`/healthz` (alive), `/readyz` (every probe answers), `/metrics` (Prometheus text): what a worker
    without an HTTP API of its own serves on its web port."""
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ready, checks = await readiness(probes)
        return web.json_response({"status": "ready" if ready else "unavailable", "checks": checks},
                                 status=200 if ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        body, content_type = metrics_payload()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)])
    return app
CLOSE_SKIPPED = Counter("meterflow_close_skipped_total",
                        "Due periods the closer skipped (retried next run), by stage and error class",
                        ["stage", "reason"])
USAGE_RECOUNTS = Counter("meterflow_usage_recounts_total",
                         "Edge hours folded from the events on record for usage and drafts, and calls answered "
                         "503 for them, by outcome (folded, cancelled, failed, deferred, refused)", ["outcome"])


def count_recount(outcome: str) -> None:
    USAGE_RECOUNTS.labels(outcome).inc()


def count_alerts_fired(fired: Iterable[AlertFiring]) -> None:
    """One increment per firing, labelled by the alert's type (called once the firing is committed)."""
    for firing in fired:
        ALERTS_FIRED.labels(firing.alert.type.value).inc()


WEBHOOK_DELIVERIES = Counter("meterflow_webhook_deliveries_total",
                             "Webhook delivery attempts, by outcome (succeeded, retrying, failed)", ["outcome"])
WEBHOOK_ATTEMPT_SECONDS = Histogram("meterflow_webhook_attempt_seconds", "Duration of one webhook POST",
                                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
WEBHOOK_FIRST_ATTEMPT_DELAY = Histogram("meterflow_webhook_first_attempt_delay_seconds",
                                        "From a change to its webhook's first delivery attempt",
                                        buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))
PAYMENT_CHARGES = Counter("meterflow_payment_charges_total", "Collection steps by outcome (succeeded, failed, "
                          "unknown, pending, nothing_due)", ["outcome"])
PAYMENT_AMOUNT_COLLECTED = Counter("meterflow_payment_amount_collected_total",
                                   "Amount collected by successful charges, in major units", ["currency"])
PAYMENT_QUEUE_AGE = Gauge("meterflow_payment_queue_age_seconds",
                          "How long the oldest due collection (charge or dunning retry) has been waiting")
WEBHOOK_QUEUE_AGE = Gauge("meterflow_webhook_queue_age_seconds",
                          "How long the oldest due webhook delivery has been waiting (0: none due)")
