"""A producer that exits without closing its buffer still delivers what it added: the sync buffer is
flushed at interpreter shutdown."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from meterflow_client import Meterflow
from tests.support import unique

PRODUCER = textwrap.dedent("""
    import sys
    from meterflow_client import Meterflow

    customer_id, keys = sys.argv[1], sys.argv[2:]
    buffer = Meterflow().events.buffer(flush_interval_s=3600)  # never due by age: only the exit sends it
    for key in keys:
        buffer.add({"event_name": "shutdown_probe", "customer_id": customer_id, "idempotency_key": key})
    print("added", flush=True)
""")


def test_events_added_before_exit_are_ingested_at_interpreter_shutdown(client: Meterflow, base_url: str,
                                                                       test_key: str) -> None:
    customer = client.customers.create(external_id=unique("ext"), name="Exiting producer")
    keys = [unique("exit") for _ in range(5)]
    done = subprocess.run([sys.executable, "-c", PRODUCER, customer.id, *keys], capture_output=True, text=True,
                          timeout=120, env={"MF_API_KEY": test_key, "MF_BASE_URL": base_url, "PATH": ""},
                          check=False)
    assert done.returncode == 0 and done.stdout.strip() == "added", done.stderr
    # The exit hook returned only once the batch had its answer: the events are acknowledged, and the
    # gateway answers a resend of them as duplicates.
    again = client.events.ingest([{"event_name": "shutdown_probe", "customer_id": customer.id,
                                   "idempotency_key": key} for key in keys])
    assert sorted(again.duplicates) == sorted(keys) and again.ingested == []
