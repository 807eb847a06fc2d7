"""A service's hot path does not pay for walking its start-up objects in every full collection
(meterflow/heap.py: the cause of an 18% ingest regression). Run in a fresh interpreter, since freezing
this test process's objects would keep them for the rest of the session."""

from __future__ import annotations

import json
import subprocess
import sys

from meterflow.heap import YOUNG_THRESHOLD

PROBE = """
import gc, json
from meterflow.heap import tune_for_serving
start_up = [[] for _ in range(1_000)]  # tracked objects made before the service serves
tune_for_serving()
young = [[] for _ in range(10)]
print(json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                  "tracked_after": sum(1 for _ in gc.get_objects())}))
"""


def test_start_up_objects_are_frozen_and_young_ones_collected_less_often() -> None:
    found = json.loads(subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                                      timeout=60).stdout)
    assert found["frozen"] > 1_000  # the interpreter's and the module's objects, out of every collection
    assert found["tracked_after"] < found["frozen"]  # what collections still walk: only what came after
    assert found["threshold"][0] == YOUNG_THRESHOLD
