"""`python -m bench [--only raw,ingest,...] [--scale 0.5] [--keep-data]`: every figure, then the table."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from bench import (
    alerts,
    close,
    console,
    edges,
    ingest,
    latency,
    payments,
    portal,
    processor,
    raw_kafka,
    record,
    redis_memory,
    report,
    sdk_ingest,
    wallets,
    webhooks,
)
from bench.stack import bench_stack
from meterflow.settings import Settings

Results = dict[str, float | None]
# platformdirs (via Faust's `mode`) warns on every import in a container; pytest's config ignores it too.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


@dataclass(frozen=True)
class Measurement:
    name: str
    keys: tuple[str, ...]
    run: Callable[[Settings, float], Results]


def _raw(settings: Settings, scale: float) -> Results:
    rates = asyncio.run(raw_kafka.measure(settings, int(200_000 * scale)))
    print(f"  {rates.messages:,} messages of {rates.message_bytes} B")
    return {"raw_produce_per_s": rates.produce_per_s, "raw_consume_per_s": rates.consume_per_s,
            "raw_produce_cpu_us_per_message": rates.produce_cpu_us_per_message,
            "raw_consume_cpu_us_per_message": rates.consume_cpu_us_per_message}


def _ingest(settings: Settings, scale: float) -> Results:
    rates = asyncio.run(ingest.measure(settings, clients=6, batches=int(150 * scale), max_seconds=15))
    for label, run in (("spool on", rates.spooled), ("spool off", rates.without)):
        print(f"  {label} (best of 2): {run.events:,} events in {run.seconds:.1f}s from {run.clients} clients")
    return {"ingest_events_per_s": rates.spooled.events_per_s,
            "ingest_cpu_us_per_event": rates.spooled.cpu_us_per_event,
            "ingest_redis_cpu_us_per_event": rates.spooled.redis_cpu_us_per_event,
            "ingest_without_spool_events_per_s": rates.without.events_per_s,
            "ingest_without_spool_cpu_us_per_event": rates.without.cpu_us_per_event,
            "spool_bytes_per_event": rates.spool_bytes_per_event}


def _sdk(settings: Settings, scale: float) -> Results:
    rates = asyncio.run(sdk_ingest.measure(settings, events=int(300_000 * scale)))
    print(f"  {rates.events:,} events in {rates.seconds:.1f}s through one process's SDK buffer")
    return {"sdk_buffer_events_per_s": rates.events_per_s}


def _processor_rates(settings: Settings, scale: float, workers: int) -> processor.ProcessorRates:
    rates = asyncio.run(processor.measure(settings, originals=int(150_000 * scale), workers=workers))
    print(f"  {rates.records:,} records timed over {rates.seconds:.1f}s; figures exact: {rates.exact}; "
          f"events counted by each worker: {', '.join(f'{n:,}' for n in rates.shares)}")
    if not rates.exact:
        raise AssertionError("the processor's counts are not exact: a measurement of a wrong result")
    return rates


def _processor(settings: Settings, scale: float) -> Results:
    rates = _processor_rates(settings, scale, workers=1)
    # The processor always writes the events on record (no setting turns it off: docs/processor-design.md):
    # its figure is the one with the record on.
    return {"processor_events_per_s": rates.events_per_s, "processor_with_record_events_per_s": rates.events_per_s,
            "processor_cpu_us_per_event": rates.cpu_us_per_event,
            "processor_redis_cpu_us_per_event": rates.redis_cpu_us_per_event}


def _processor_2_workers(settings: Settings, scale: float) -> Results:
    rates = _processor_rates(settings, scale, workers=2)
    return {"processor_2_workers_events_per_s": rates.events_per_s,
            "processor_2_workers_cpu_us_per_event": rates.cpu_us_per_event}


def _latency(settings: Settings, scale: float) -> Results:
    pace = latency.Pace(streams=2, batch=25, interval_s=0.05, seconds=max(10.0, 30 * scale))
    found = asyncio.run(latency.measure(settings, pace))
    print(f"  {found.samples} batches of {pace.batch} at {found.events_per_s:,.0f} events/s; "
          f"max {found.max_s:.3f}s")
    return {"e2e_p50_s": found.p50_s, "e2e_p99_s": found.p99_s}


def _close_of(subscriptions: int, settings: Settings) -> float:
    """Not scaled: each figure is defined at its number of subscriptions."""
    timing = asyncio.run(close.measure(settings, subscriptions=subscriptions, usage_share=0.3))
    print(f"  {timing.invoices:,} invoices ({timing.invoices_with_usage:,} with usage) for "
          f"{timing.subscriptions:,} subscriptions; the command reports {timing.reported_s}s")
    if timing.invoices != timing.subscriptions:
        raise AssertionError(f"{timing.invoices} invoices for {timing.subscriptions} due subscriptions")
    return timing.seconds


def _close(settings: Settings, scale: float) -> Results:
    return {"close_10k_s": _close_of(10_000, settings)}


def _close_100k(settings: Settings, scale: float) -> Results:
    return {"close_100k_s": _close_of(100_000, settings)}


def _redis(settings: Settings, scale: float) -> Results:
    n = int(200_000 * scale)
    found = asyncio.run(redis_memory.measure(settings, n, "position"))
    print(f"  {n:,} idempotency keys, origin a position, ~300 a bucket: {found.counted:.1f} B a key as counted "
          f"(cold {found.cold:.1f} + hot {found.hot:.1f}), acknowledged {found.acknowledged:.1f} B")
    figures: Results = {"redis_bytes_per_key": found.counted, "redis_bytes_per_key_no_origin": found.cold,
                        "redis_bytes_per_key_hot": found.hot,
                        "redis_bytes_per_key_acknowledged": found.acknowledged,
                        "redis_mb_per_event_per_s": redis_memory.mb_per_event_per_s(found, settings)}
    delivery = asyncio.run(redis_memory.measure(settings, n, "delivery"))
    print(f"  origin a spool delivery id: {delivery.counted:.1f} B a key as counted (hot {delivery.hot:.1f})")
    figures["redis_bytes_per_key_delivery_origin"] = delivery.counted
    # The hot tiers in 256 buckets (~780 a bucket, past the 512 fields a listpack holds): what their marks
    # cost once an hour of traffic holds more than 512 keys a bucket (docs/scaling.md, "What breaks first").
    crowded = asyncio.run(redis_memory.measure(settings, n, "position", hot_bits=8))
    print(f"  hot tiers in {2 ** 8} buckets: hot {crowded.hot:.1f} B, acknowledged {crowded.acknowledged:.1f} B a key")
    figures["redis_bytes_per_key_past_listpack"] = crowded.hot
    figures["redis_bytes_per_key_no_origin_past_listpack"] = crowded.acknowledged
    return figures


def _record(settings: Settings, scale: float) -> Results:
    found = asyncio.run(record.measure(settings, int(1_000_000 * scale)))
    print(f"  {found.events:,} events on record in one customer's month")
    return {"record_bytes_per_event": found.bytes_per_event, "invoice_events_page_p99_ms": found.page_p99_ms,
            "replay_1m_s": found.replay_s}


def _edges(settings: Settings, scale: float) -> Results:
    found = asyncio.run(edges.measure(settings, int(3_600_000 * scale)))
    kept = found.kept
    print(f"  {found.events_in_hour:,} events in the edge hour (loaded on record in {found.load_s:.0f}s), "
          f"{found.events_in_edge:,} in the period's edge; first answer after {found.first_fold_s:.1f}s of folding")
    print(f"  p50: usage {kept.usage.p50_ms:.1f} ms, draft {kept.draft.p50_ms:.1f} ms, whole hours only "
          f"{kept.whole_hours.p50_ms:.1f} ms (p99 {kept.whole_hours.p99_ms:.1f} ms); {kept.calls} usage/draft calls "
          f"beside ingest; ingest p99 beside as many whole-hour calls {kept.ingest_beside_whole_hour_calls_p99_ms:.1f} "
          f"ms; after a late event the edge was folded again in {found.refold_s:.1f}s, calls meanwhile answered "
          f"{found.answers_during_fold}")
    return {"edge_first_fold_s": found.first_fold_s, "edge_usage_p99_ms": kept.usage.p99_ms,
            "edge_draft_p99_ms": kept.draft.p99_ms, "ingest_p99_alone_ms": kept.ingest_alone_p99_ms,
            "ingest_p99_with_edge_calls_ms": kept.ingest_beside_calls_p99_ms,
            "ingest_p99_during_edge_fold_ms": found.ingest_p99_during_fold_ms}


def _webhooks(settings: Settings, scale: float) -> Results:
    found = asyncio.run(webhooks.measure(settings, events=int(5_000 * scale), paced_seconds=max(5.0, 15 * scale)))
    print(f"  {found.events:,} events to one local endpoint; {found.deliveries_per_s_at_once:,.0f} deliveries/s "
          f"to {found.endpoints_at_once} endpoints at once; {found.latency_samples:,} paced events, first "
          f"attempt p50 {found.first_attempt_p50_s:.3f}s; {found.duplicates} sent twice")
    return {"webhook_deliveries_per_s": found.deliveries_per_s,
            "webhook_first_attempt_p99_s": found.first_attempt_p99_s}


def _payments(settings: Settings, scale: float) -> Results:
    found = asyncio.run(payments.measure(settings, invoices=int(1_000 * scale), paced_seconds=max(5.0, 10 * scale)))
    print(f"  {found.invoices:,} invoices charged through the provider double; {found.latency_samples:,} paced "
          f"finalizes, finalize → charge p50 {found.finalize_to_charge_p50_s:.3f}s; "
          f"{found.charged_twice} charged twice")
    if found.charged_twice:
        raise AssertionError(f"{found.charged_twice} invoices charged twice: a measurement of a wrong result")
    return {"payment_charges_per_s": found.charges_per_s,
            "payment_finalize_to_charge_p99_s": found.finalize_to_charge_p99_s}


def _wallets(settings: Settings, scale: float) -> Results:
    found = asyncio.run(wallets.measure(settings, debits=int(5_000 * scale)))
    print(f"  {found.debits:,} debits of 1.00, 16 at once, on one wallet then over {found.many_wallets:,}; "
          "balances exact")
    return {"wallet_debits_one_wallet_per_s": found.one_wallet_per_s,
            "wallet_debits_1000_wallets_per_s": found.many_wallets_per_s}


def _console(settings: Settings, scale: float) -> Results:
    found = asyncio.run(console.measure(settings))
    print(f"  overview p50 {found.overview_p50_ms:.1f} ms with {found.failed_attempts:,} failed webhook attempts, "
          f"{console.CLOSE_FAILURES} close failures and 24 hours of accounting behind it")
    return {"console_overview_p95_ms": found.overview_p95_ms}


def _portal(settings: Settings, scale: float) -> Results:
    found = asyncio.run(portal.measure(settings, int(1_000_000 * scale)))
    print(f"  {found.events:,} events in the period (on record and folded into rollups in {found.load_s:.0f}s); "
          f"first page after {found.first_answer_s:.2f}s (edge hour folded); p50 {found.p50_ms:.1f} ms; "
          f"{found.page_bytes:,} bytes of HTML")
    return {"portal_page_p95_ms": found.p95_ms}


def _alerts(settings: Settings, scale: float) -> Results:
    batch = 10
    pace = alerts.Pace(customers=10, batch=batch, interval_s=0.1,  # 1,000 events/s in 10 requests
                       step=max(batch, int(100 * scale) // batch * batch))
    found = asyncio.run(alerts.measure(settings, pace))
    print(f"  {found.samples} thresholds crossed at {found.events_per_s:,.0f} events/s; max {found.max_s:.3f}s; "
          f"{found.delivered_twice} delivered twice")
    return {"alert_webhook_p50_s": found.p50_s, "alert_webhook_p99_s": found.p99_s}


MEASUREMENTS = [
    Measurement("raw", ("raw_produce_per_s", "raw_consume_per_s", "raw_produce_cpu_us_per_message",
                        "raw_consume_cpu_us_per_message"), _raw),
    Measurement("ingest", ("ingest_events_per_s", "ingest_cpu_us_per_event", "ingest_redis_cpu_us_per_event",
                           "ingest_without_spool_events_per_s", "ingest_without_spool_cpu_us_per_event",
                           "spool_bytes_per_event"), _ingest),
    Measurement("sdk", ("sdk_buffer_events_per_s",), _sdk),
    Measurement("processor", ("processor_events_per_s", "processor_with_record_events_per_s",
                              "processor_cpu_us_per_event", "processor_redis_cpu_us_per_event"), _processor),
    Measurement("processor2", ("processor_2_workers_events_per_s", "processor_2_workers_cpu_us_per_event"),
                _processor_2_workers),
    Measurement("latency", ("e2e_p50_s", "e2e_p99_s"), _latency),
    Measurement("close", ("close_10k_s",), _close),
    Measurement("close100k", ("close_100k_s",), _close_100k),
    Measurement("redis", ("redis_bytes_per_key", "redis_bytes_per_key_delivery_origin",
                          "redis_bytes_per_key_no_origin", "redis_bytes_per_key_hot",
                          "redis_bytes_per_key_acknowledged", "redis_mb_per_event_per_s",
                          "redis_bytes_per_key_past_listpack", "redis_bytes_per_key_no_origin_past_listpack"), _redis),
    Measurement("record", ("record_bytes_per_event", "invoice_events_page_p99_ms", "replay_1m_s"), _record),
    Measurement("edges", ("edge_first_fold_s", "edge_usage_p99_ms", "edge_draft_p99_ms", "ingest_p99_alone_ms",
                          "ingest_p99_with_edge_calls_ms", "ingest_p99_during_edge_fold_ms"), _edges),
    Measurement("webhooks", ("webhook_deliveries_per_s", "webhook_first_attempt_p99_s"), _webhooks),
    Measurement("payments", ("payment_charges_per_s", "payment_finalize_to_charge_p99_s"), _payments),
    Measurement("wallets", ("wallet_debits_one_wallet_per_s", "wallet_debits_1000_wallets_per_s"), _wallets),
    Measurement("console", ("console_overview_p95_ms",), _console),
    Measurement("portal", ("portal_page_p95_ms",), _portal),
    Measurement("alerts", ("alert_webhook_p50_s", "alert_webhook_p99_s"), _alerts),
]


def _ratios(results: Results) -> Results:
    def ratio(a: str, b: str) -> float | None:
        x, y = results.get(a), results.get(b)
        return x / y if x is not None and y else None

    pairs = {"ingest_to_raw_produce": ("ingest_events_per_s", "raw_produce_per_s"),
             "ingest_without_spool_to_raw_produce": ("ingest_without_spool_events_per_s", "raw_produce_per_s"),
             "ingest_spool_to_without": ("ingest_events_per_s", "ingest_without_spool_events_per_s"),
             "processor_to_raw_consume": ("processor_events_per_s", "raw_consume_per_s"),
             # The same comparisons per core (client CPU per message over the stage's CPU per event): what a
             # stage keeps of the client's speed on a core of its own, whatever else shared the machine.
             "ingest_to_raw_produce_per_core": ("raw_produce_cpu_us_per_message", "ingest_cpu_us_per_event"),
             "processor_to_raw_consume_per_core": ("raw_consume_cpu_us_per_message", "processor_cpu_us_per_event"),
             "processor_2_workers_to_one": ("processor_2_workers_events_per_s", "processor_events_per_s"),
             "ingest_with_edge_calls_to_alone": ("ingest_p99_with_edge_calls_ms", "ingest_p99_alone_ms"),
             "sdk_buffer_to_ingest": ("sdk_buffer_events_per_s", "ingest_events_per_s")}
    return {key: ratio(a, b) for key, (a, b) in pairs.items() if a in results and b in results}


def run(selected: list[Measurement], scale: float, keep_data: bool) -> Results:
    results: Results = {}
    with bench_stack(keep_data) as bench:
        for measurement in selected:
            print(f"{measurement.name}:", flush=True)
            started = time.monotonic()
            try:
                results |= measurement.run(bench.settings, scale)
            except Exception:
                traceback.print_exc()
                results |= dict.fromkeys(measurement.keys)
                bench.keep_data = True
            print(f"  ({time.monotonic() - started:.0f}s)", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(m.name for m in MEASUREMENTS),
                        help="comma-separated measurements: " + ", ".join(m.name for m in MEASUREMENTS))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every volume (0.3 = a quick look)")
    parser.add_argument("--keep-data", action="store_true", help="keep the servers' data and service logs")
    args = parser.parse_args()
    names = args.only.split(",")
    unknown = set(names) - {m.name for m in MEASUREMENTS}
    if unknown:
        parser.error(f"unknown measurement(s): {', '.join(sorted(unknown))}")
    started = time.monotonic()
    results = run([m for m in MEASUREMENTS if m.name in names], args.scale, args.keep_data)
    results |= _ratios(results)
    print()
    print(report.table(results))
    print(f"\n{report.machine()}\nwhole run: {time.monotonic() - started:.0f}s")
    full = len(names) == len(MEASUREMENTS) and args.scale == 1.0
    path = report.RESULTS_PATH if full else report.PARTIAL_RESULTS_PATH
    report.write(results, path)
    print(f"written: {path}")
    return 1 if any(value is None for value in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
