"""Running the `meterflow` CLI against the test stack, as ops would."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from meterflow.settings import Settings
from tests.support import service_env


def meterflow(settings: Settings, *args: str, **overrides: Any) -> subprocess.CompletedProcess[str]:
    """`overrides` are settings for this run only (`close_grace_s=0`: close a period the moment it ends)."""
    return subprocess.run([sys.executable, "-m", "services", *args], env=service_env(settings, **overrides),
                          capture_output=True, text=True, timeout=300)
