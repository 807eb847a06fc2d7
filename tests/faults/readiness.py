"""Asking a test's processor whether it advances: its /readyz answer and its stall metric together."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from meterflow.settings import Settings


@dataclass(frozen=True)
class Readiness:
    status: int  # 0: no answer yet
    body: dict[str, object] = field(default_factory=dict)
    metrics: str = ""

    def _progress(self, stalled: bool) -> bool:
        progress = self.body.get("progress")
        return isinstance(progress, dict) and progress["stalled"] is stalled

    @property
    def advancing(self) -> bool:
        return (self.status == 200 and self._progress(stalled=False)
                and "meterflow_processor_stalled 0.0" in self.metrics)

    @property
    def stalled(self) -> bool:
        return (self.status == 503 and self._progress(stalled=True)
                and "meterflow_processor_stalled 1.0" in self.metrics)


async def readiness(settings: Settings) -> Readiness:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.processor_web_port}") as client:
        try:
            ready = await client.get("/readyz")
            return Readiness(ready.status_code, ready.json(), (await client.get("/metrics")).text)
        except httpx.HTTPError:
            return Readiness(0)
