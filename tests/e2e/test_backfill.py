"""`meterflow backfill` on real servers: valid, duplicate (in the file and against the record) and invalid
lines; a second run changes nothing; a run killed mid-way and run again counts every event once."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from meterflow.adapters.event_record_repository import EventRecordRepository
from meterflow.adapters.postgres import Pool
from meterflow.domain.event_record import EventFilter
from meterflow.domain.modes import Mode
from meterflow.settings import Settings
from tests.e2e.period_tools import meterflow
from tests.e2e.scenario import created, ingest, rollup_of
from tests.support import eventually, service_env, unique

OLD = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=20)


async def sum_metric(api: httpx.AsyncClient) -> tuple[str, str, str]:
    event_name = unique("old_calls")
    customer = (await created(await api.post("/v1/customers", json={"external_id": unique("c"), "name": "n"})))["id"]
    metric = await created(await api.post("/v1/metrics", json={
        "name": "old", "event_name": event_name, "aggregation": "sum", "aggregation_property": "n"}))
    return event_name, customer, metric["id"]


async def figure(api: httpx.AsyncClient, customer: str, metric: str) -> tuple[int, Decimal]:
    usage = rollup_of(await api.get("/v1/usage", params={
        "customer_id": customer, "metric_id": metric, "from": (OLD - timedelta(days=2)).isoformat(),
        "to": (OLD + timedelta(days=3)).isoformat()}))
    return usage["event_count"], usage["value"]


def line(event_name: str, customer: str, key: str, at: datetime, n: object) -> str:
    return json.dumps({"event_name": event_name, "customer_id": customer, "idempotency_key": key,
                       "timestamp": at.isoformat(), "properties": {"n": n}})


async def test_backfill_counts_valid_lines_once_reports_the_rest_and_a_second_run_changes_nothing(
        api: httpx.AsyncClient, settings: Settings, tmp_path: Path) -> None:
    event_name, customer, metric = await sum_metric(api)
    on_record = unique("k")
    await ingest(api, [{"event_name": event_name, "customer_id": customer, "idempotency_key": on_record}])
    await eventually(lambda: api.get(f"/v1/events/{on_record}"), lambda r: r.status_code == 200)
    k1, k2, k3 = unique("k"), unique("k"), unique("k")
    lines = [line(event_name, customer, k1, OLD + timedelta(minutes=15), "2"),
             line(event_name, customer, k2, OLD + timedelta(minutes=45), 3),
             line(event_name, customer, k1, OLD + timedelta(minutes=50), 100),
             "{not json",
             line(event_name, customer, unique("k"), datetime.now(UTC) - timedelta(hours=1), 1),
             line(event_name, "cus_nobody", unique("k"), OLD, 1),
             "",
             line(event_name, customer, k3, OLD + timedelta(days=1, seconds=7), 5),
             line(event_name, customer, on_record, OLD, 7)]
    source = tmp_path / "old.ndjson"
    source.write_text("\n".join(lines) + "\n")

    first = meterflow(settings, "backfill", "--mode", "test", str(source))
    assert first.returncode == 1, first.stderr
    assert "accepted 3, duplicates 2, rejected 3" in first.stdout, first.stdout
    assert "line 4: rejected: not JSON" in first.stdout
    assert "line 5: rejected: timestamp: is within the acceptance window" in first.stdout
    assert "line 6: rejected: customer_id" in first.stdout
    assert await figure(api, customer, metric) == (3, Decimal(10))
    assert (await api.get(f"/v1/events/{k1}")).json()["event"]["properties"] == {"n": "2"}

    again = subprocess.run(
        [sys.executable, "-m", "services", "backfill", "--mode", "test", "-"], input=source.read_text(),
        env=service_env(settings), capture_output=True, text=True, timeout=300)
    assert "accepted 0, duplicates 5, rejected 3" in again.stdout, again.stdout + again.stderr
    assert await figure(api, customer, metric) == (3, Decimal(10))


async def test_a_backfill_killed_mid_way_and_run_again_counts_every_event_once(
        api: httpx.AsyncClient, settings: Settings, pool: Pool, tmp_path: Path) -> None:
    event_name, customer, metric = await sum_metric(api)
    total = 30_000
    source = tmp_path / "many.ndjson"
    source.write_text("".join(line(event_name, customer, f"{metric}-{i}", OLD + timedelta(seconds=7 * i), i % 5)
                              + "\n" for i in range(total)))
    record = EventRecordRepository(pool)
    run = subprocess.Popen([sys.executable, "-m", "services", "backfill", "--mode", "test", str(source)],
                           env=service_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    on_record: Any = await eventually(lambda: record.count(Mode.TEST, EventFilter(customer_id=customer)),
                                      lambda n: n > 0, 120, interval_s=0.02)
    was_running = run.poll() is None
    run.kill()
    await asyncio.to_thread(run.wait)
    assert was_running and on_record < total, "the kill must land mid-way"
    second = meterflow(settings, "backfill", "--mode", "test", str(source))
    assert second.returncode == 0, second.stdout + second.stderr
    assert await record.count(Mode.TEST, EventFilter(customer_id=customer)) == total
    assert await figure(api, customer, metric) == (total, Decimal(sum(i % 5 for i in range(total))))


async def test_on_a_terminal_backfill_draws_a_progress_bar_that_ends_full_and_in_a_pipe_only_the_totals(
        api: httpx.AsyncClient, settings: Settings, tmp_path: Path) -> None:
    event_name, customer, _ = await sum_metric(api)
    source = tmp_path / "bar.ndjson"
    source.write_text("".join(line(event_name, customer, unique("k"), OLD + timedelta(seconds=i), 1) + "\n"
                              for i in range(2_500)))
    terminal, screen = pty.openpty()
    run = subprocess.Popen([sys.executable, "-m", "services", "backfill", "--mode", "test", str(source)],
                           env={**service_env(settings), "COLUMNS": "120", "TERM": "xterm"},
                           stdout=subprocess.PIPE, stderr=screen)
    os.close(screen)
    drawn = bytearray()
    while chunk := await asyncio.to_thread(_read_terminal, terminal):
        drawn += chunk
    out, _ = await asyncio.to_thread(run.communicate, timeout=300)
    os.close(terminal)
    assert run.returncode == 0 and b"accepted 2500, duplicates 0, rejected 0" in out, out
    assert b"backfill" in drawn and b"100%" in drawn and b"2500 accepted" in drawn, drawn.decode(errors="replace")

    piped = meterflow(settings, "backfill", "--mode", "test", str(source))
    assert "accepted 0, duplicates 2500" in piped.stdout and "%" not in piped.stderr, piped.stderr


def _read_terminal(fd: int) -> bytes:
    """What the process drew on the terminal so far; b"" once it closed it (EIO on Linux)."""
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""
