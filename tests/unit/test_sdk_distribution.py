"""The SDK is a light distribution of its own: it declares httpx and pydantic v2 and nothing else, so
installing it never pulls the servers or their Kafka and Postgres drivers (what it imports is checked by
the import contract in `make check`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).parents[2] / "clients" / "python" / "pyproject.toml"


def test_the_sdk_declares_only_httpx_and_pydantic_2() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert project["name"] == "meterflow-client"
    names = {re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0]: requirement
             for requirement in project["dependencies"]}
    assert set(names) == {"httpx", "pydantic"}
    assert ">=2" in names["pydantic"] and "<3" in names["pydantic"]
    assert "optional-dependencies" not in project
