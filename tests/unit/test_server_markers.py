"""The tier contract of tests/conftest.py: a test that reaches a real server through a fixture must
declare it with a marker, and a declared test gets the session's servers."""

from __future__ import annotations

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


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytest run in a subprocess that imports the repository's tests.conftest."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest(CONFTEST)
    return pytester


def test_a_test_using_a_server_fixture_without_its_marker_fails_loudly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_undeclared="def test_reads_postgres(pool):\n    assert pool\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*uses *pool (real servers) but declares none*"])


def test_a_marker_for_another_server_does_not_cover_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_wrong="import pytest\n\n@pytest.mark.redis\ndef test_reads_postgres(pool):\n"
                                   "    assert pool\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*touches postgres through its fixtures but does not declare it*"])


def test_a_declared_test_gets_the_servers_without_asking(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_declared="import pytest\nfrom conftest import STARTED\n\n"
                                      "@pytest.mark.postgres\ndef test_marked():\n    assert STARTED\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
