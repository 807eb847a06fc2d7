"""Schema-driven fuzzing of the running gateway: every operation of its OpenAPI schema, every check
schemathesis has (no 5xx, status codes, bodies and headers as documented, invalid data refused, valid
data accepted), bounded examples and a fixed seed, so a run is repeatable.

100 generated examples an operation (besides the coverage phase's boundary cases and the stateful
phase's links): with 79 operations that is about 3 minutes of the suite on 2 cores, where 300 took 6.
`MF_FUZZ_MAX_EXAMPLES=300` (or more) runs deeper, before a release or after changing the schema."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meterflow.settings import Settings
from tests.support import ServiceProcess

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]  # the gateway fixture runs all three

CONFIG = Path(__file__).resolve().with_name("schemathesis.toml")
CLI = Path(__file__).resolve().with_name("schemathesis_cli.py")  # `st`, safe with its worker threads
SEED = 20261125
MAX_EXAMPLES = int(os.environ.get("MF_FUZZ_MAX_EXAMPLES", "100"))


def test_the_gateway_answers_every_generated_request_as_its_schema_says(
        settings: Settings, gateway: ServiceProcess, test_key: str, tmp_path: Path) -> None:
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, str(CLI), "--config-file", str(CONFIG), "run",
         f"http://127.0.0.1:{settings.api_port}/openapi.json", "--checks", "all", "--seed", str(SEED),
         "--generation-deterministic", "--max-examples", str(MAX_EXAMPLES), "--workers", "2",
         "--header", f"Authorization: Bearer {test_key}", "--no-color", "--warnings", "off",
         "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)  # its cache stays out of the repo
    print(run.stdout[-3000:], f"\nfuzz run took {time.monotonic() - started:.0f}s")
    # Its own settings (the operations whose cross-field rules JSON Schema cannot say) are read whatever
    # the directory pytest runs from: without them schemathesis reports those rules as failures.
    assert f"Configuration:    {CONFIG}" in run.stdout, run.stdout[:2_000]
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
