"""Several gateway processes on one port (`MF_GATEWAY_WORKERS`): each takes a spool directory of its own,
and what any of them acknowledges is counted once."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from meterflow.settings import Settings
from services.devstack.embedded import free_port
from tests.e2e.scenario import billing_setup, event, usage_reaches
from tests.support import ServiceProcess, eventually


async def test_each_worker_spools_in_its_own_directory_and_every_event_counts(
        api: httpx.AsyncClient, settings: Settings, tmp_path: Path) -> None:
    setup = await billing_setup(api)
    port = free_port()
    with ServiceProcess.running("gateway", settings, api_port=port, gateway_workers=2, spool_dir=tmp_path):
        for _ in range(40):  # a new connection each time, so either worker may take it
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=api.headers,
                                         timeout=30) as fresh:
                answer = await fresh.post("/v1/ingest", json={"events": [event(setup) for _ in range(25)]})
                assert answer.status_code == 202, answer.text
        await usage_reaches(api, setup, "1000", timeout_s=60)
        spools = sorted(p.name for p in tmp_path.iterdir())
        ids = {json.loads((tmp_path / name / "state.json").read_text())["spool_id"] for name in spools}
        assert spools == ["worker-0", "worker-1"] and len(ids) == 2
        await eventually(lambda: _settled(tmp_path), lambda n: n == 1000, timeout_s=30, interval_s=0.5)


async def _settled(spools: Path) -> int:
    """Events the two spools know to be counted (`settled_through` is each spool's last settled sequence)."""
    return sum(json.loads((d / "state.json").read_text())["settled_through"] for d in spools.iterdir())
