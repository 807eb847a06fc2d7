"""The tier contract of tests/conftest.py: a test that reaches a real server through a fixture must
declare it with a marker, and a declared test gets the session's servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
CONFTEST = '''
import pytest
from tests.conftest import declared_servers, pytest_collection_modifyitems  # noqa: F401

STARTED = []

@pytest.fixture(scope="session")
def environment():
    STARTED.append(True)
    return "servers"

@pytest.fixture
def pool(environment):
    return "a pool"
'''


TESTS = {
    "test_undeclared": "def test_reads_postgres(pool):\n    assert pool\n",
    "test_wrong": "import pytest\n\n@pytest.mark.redis\ndef test_reads_postgres(pool):\n    assert pool\n",
    "test_declared": "import pytest\nfrom conftest import STARTED\n\n"
                     "@pytest.mark.postgres\ndef test_marked():\n    assert STARTED\n",
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One pytest run in a subprocess (importing the repository's tests.conftest) over three small test
    files; its report, verbose, with the reasons."""
    folder = tmp_path_factory.mktemp("markers")
    (folder / "conftest.py").write_text(CONFTEST)
    for name, body in TESTS.items():
        (folder / f"{name}.py").write_text(body)
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", str(folder)],
                         cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                         timeout=120, check=False)
    return run.stdout


def test_a_test_using_a_server_fixture_without_its_marker_fails_loudly(outcomes: str) -> None:
    assert "ERROR test_undeclared.py::test_reads_postgres" in outcomes
    assert "uses environment, pool (real servers) but declares none" in outcomes


def test_a_marker_for_another_server_does_not_cover_it(outcomes: str) -> None:
    assert "ERROR test_wrong.py::test_reads_postgres" in outcomes
    assert "touches postgres through its fixtures but does not declare it" in outcomes


def test_a_declared_test_gets_the_servers_without_asking(outcomes: str) -> None:
    assert "PASSED test_declared.py::test_marked" in outcomes
