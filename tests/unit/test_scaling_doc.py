"""docs/scaling.md's capacity table follows from the inputs it states: change an input (a refreshed bench
figure) and this test names every cell that no longer agrees."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

SCALING = Path(__file__).parents[2] / "docs" / "scaling.md"
SECONDS_A_DAY = 86_400


def _table_rows(heading: str) -> list[list[str]]:
    """The body rows of the first table after `heading`, as stripped cells."""
    text = SCALING.read_text()
    after = text[text.index(heading):]
    rows = []
    for line in after.splitlines()[1:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # past the header and its rule


def _inputs() -> dict[str, float]:
    return {row[0].strip("`"): float(row[1]) for row in _table_rows("## Inputs")}


def _expected_row(rate: int, given: dict[str, float]) -> list[str]:
    def processes(cpu_us: float) -> int:
        return max(2, math.ceil(rate * cpu_us / 1e6 / given["process_cpu_target"]))

    processors = processes(given["processor_cpu_us"])
    today = rate * (given["mark_bytes_today"] + given["acknowledged_bytes_today"]) * given["mark_life_s"]
    designed = rate * (given["cold_mark_bytes"] * given["mark_life_s"] + given["hot_mark_bytes"] * given["hot_life_s"])
    shards = max(3, math.ceil(designed / given["redis_shard_bytes"]),
                 math.ceil(rate * given["redis_cpu_us"] / 1e6 / given["redis_cpu_target"]))
    on_record = rate * given["record_bytes"] * SECONDS_A_DAY * given["record_retention_days"]
    return [f"{rate:,}", str(processes(given["gateway_cpu_us"])), str(processors), str(max(12, 2 * processors)),
            f"{today / 1e9:,.0f} GB", f"{designed / 1e9:,.0f} GB", str(shards),
            f"{rate * given['record_bytes'] / 1e6:,.1f} MB/s", f"{on_record / 1e12:,.0f} TB",
            f"{rate * given['kafka_event_bytes'] / 1e6:,.1f} MB/s"]


def test_the_table_covers_the_three_rates() -> None:
    assert [row[0] for row in _table_rows("## The table")] == ["10,000", "100,000", "1,000,000"]


@pytest.mark.parametrize("row", _table_rows("## The table"), ids=lambda row: row[0])
def test_every_cell_follows_from_the_inputs(row: list[str]) -> None:
    rate = int(row[0].replace(",", ""))
    assert row == _expected_row(rate, _inputs())


def test_the_designed_marks_meet_ten_megabytes_per_event_a_second() -> None:
    given = _inputs()
    per_event_a_second = given["cold_mark_bytes"] * given["mark_life_s"] + given["hot_mark_bytes"] * given["hot_life_s"]
    assert per_event_a_second <= 10e6
    assert re.search(rf"\*\*{per_event_a_second / 1e6:.2f} MB per event/s\*\*", SCALING.read_text())
