"""The garbage collector tuned for a service's hot path: start-up objects frozen, young ones collected
less often.

A service's start-up leaves ~120,000 long-lived objects (modules, routes, schemas, clients). The hot
paths allocate per event (an ingest batch of 1,000 builds tens of thousands of objects that live for the
whole request), so with CPython's defaults collections ran every 700 allocations and a full one every
few batches, each full one walking every start-up object: the gateway's CPU per event grew with its code
(+18% between two releases, for no change on the ingest path). Frozen objects are never walked again;
young objects are collected every `YOUNG_THRESHOLD` allocations instead of 700, which measured as fast
as no collection at all on an ingest batch. Cyclic garbage is still collected, a few MB later.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
# The gateway holds several ingest batches at once (each client's request of 1,000 events, tens of
# thousands of objects each until its answer): at 10,000 a young collection ran several times per
# request and promoted what was still in flight, feeding full collections. At 50,000 the gateway spent
# ~1 µs (~4%) less CPU per event (alternating runs); 200,000 measured no better.
GATEWAY_YOUNG_THRESHOLD = 50_000
# The processor holds two batches of 2,000 records at once (one counting, the next prepared), each tens
# of thousands of objects until it settles: at 10,000 young collections ran every few hundred records
# and promoted the batches in hand into full collections, ~9% of the worker's CPU (gc callbacks on the
# bench). At 50,000 collections all but vanish: 56.6, 59.1 -> 54.1, 55.2 µs of CPU an event
# (alternating bench runs).
PROCESSOR_YOUNG_THRESHOLD = 50_000


def tune_for_serving(young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Called by a service's entry point once its app is built, before it serves (not by the app itself:
    a test process builds many apps, and must not keep each one's objects forever)."""
    gc.collect()  # garbage made during start-up is freed, not kept forever
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, older, oldest)
