"""Running the `meterflow` CLI against the test stack, as ops would."""

from __future__ import annotations

import subprocess
import sys

from meterflow.settings import Settings
from tests.support import service_env


def meterflow(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services", *args], env=service_env(settings),
                          capture_output=True, text=True, timeout=300)
