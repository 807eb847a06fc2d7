"""The Python SDK's clients on the running gateway (and a processor behind it), test mode."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from meterflow.settings import Settings
from meterflow_client import AsyncMeterflow, Meterflow
from tests.support import ServiceProcess


@pytest.fixture
def base_url(settings: Settings, gateway: ServiceProcess, processor: ServiceProcess) -> str:
    return f"http://127.0.0.1:{settings.api_port}"


@pytest.fixture
def client(base_url: str, test_key: str) -> Iterator[Meterflow]:
    with Meterflow(api_key=test_key, base_url=base_url, timeout_s=30) as sdk:
        yield sdk


@pytest.fixture
async def async_client(base_url: str, test_key: str) -> AsyncIterator[AsyncMeterflow]:
    async with AsyncMeterflow(api_key=test_key, base_url=base_url, timeout_s=30) as sdk:
        yield sdk
