"""A service's hot path does not pay for walking its start-up objects in every full collection
(meterflow/heap.py: the cause of an 18% ingest regression). Run in a fresh interpreter, since freezing
this test process's objects would keep them for the rest of the session."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from meterflow.heap import GATEWAY_YOUNG_THRESHOLD, YOUNG_THRESHOLD

PROBE = """
import gc, json, sys
from meterflow.heap import tune_for_serving
start_up = [[] for _ in range(1_000)]  # tracked objects made before the service serves
tune_for_serving(*map(int, sys.argv[1:]))
young = [[] for _ in range(10)]
print(json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                  "tracked_after": sum(1 for _ in gc.get_objects())}))
"""


def _probe(*arguments: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(subprocess.run([sys.executable, "-c", PROBE, *arguments], capture_output=True,
                                                      text=True, check=True, timeout=60).stdout)
    return found


def test_start_up_objects_are_frozen_and_young_ones_collected_less_often() -> None:
    found = _probe()
    assert found["frozen"] > 1_000  # the interpreter's and the module's objects, out of every collection
    assert found["tracked_after"] < found["frozen"]  # what collections still walk: only what came after
    assert found["threshold"][0] == YOUNG_THRESHOLD


def test_the_gateway_collects_its_young_objects_less_often_still() -> None:
    """The gateway passes its own threshold (it holds several batches in flight); freezing is the same."""
    found = _probe(str(GATEWAY_YOUNG_THRESHOLD))
    assert found["frozen"] > 1_000
    assert found["threshold"][0] == GATEWAY_YOUNG_THRESHOLD > YOUNG_THRESHOLD
