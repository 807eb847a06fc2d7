"""An optional on-disk spool for buffered ingest, so that events a producer accepted survive its restart
(a crash or kill -9 included).

Every accepted event is written, as a JSON line, to the current segment file (`<n>.jsonl`) before `add`
returns; a segment is deleted once every one of its events is settled. A buffer started on a directory
that holds segments sends their events first. Sending one again is safe: its idempotency key is in the
spool, so an event already recorded comes back as a duplicate, never counted twice.

Written to the operating system, not fsynced: it survives the process, not the machine. One buffer per
directory.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import IO, Any

from meterflow_client._wire import encode

SEGMENT_EVENTS = 10_000


def _events_of(path: Path) -> list[dict[str, Any]]:
    """A segment's events; a last line cut short (the process died while writing it, before its `add`
    returned) is not an accepted event and is skipped."""
    events = []
    for line in path.read_bytes().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


class Spool:
    def __init__(self, directory: str | os.PathLike[str], segment_events: int = SEGMENT_EVENTS) -> None:
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._segment_events = segment_events
        self._unsettled: Counter[int] = Counter()
        self._current = 0
        self._written = 0
        self._file: IO[bytes] | None = None

    def _path(self, segment: int) -> Path:
        return self._dir / f"{segment:012d}.jsonl"

    def recover(self) -> list[tuple[int, dict[str, Any]]]:
        """What an earlier process accepted and did not settle, oldest first, with its segment."""
        found: list[tuple[int, dict[str, Any]]] = []
        for path in sorted(self._dir.glob("*.jsonl")):
            segment, events = int(path.stem), _events_of(path)
            if not events:
                path.unlink()
                continue
            self._unsettled[segment] = len(events)
            found += [(segment, event) for event in events]
        self._current = max(self._unsettled, default=0)
        return found

    def write(self, event: dict[str, Any]) -> int:
        """Writes the event before the buffer holds it; its segment."""
        if self._file is None or self._written >= self._segment_events:
            self._start_segment()
        assert self._file is not None
        self._file.write(encode(event) + b"\n")
        self._file.flush()
        self._written += 1
        self._unsettled[self._current] += 1
        return self._current

    def release(self, segments: Counter[int]) -> None:
        """These events are settled; a segment with none left unsettled (and no longer written) goes."""
        for segment, count in segments.items():
            self._unsettled[segment] -= count
            if self._unsettled[segment] <= 0 and not (segment == self._current and self._file is not None):
                self._drop(segment)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            if self._unsettled[self._current] <= 0:
                self._drop(self._current)

    def _start_segment(self) -> None:
        self.close()
        self._current += 1
        self._written = 0
        self._file = self._path(self._current).open("ab")

    def _drop(self, segment: int) -> None:
        self._path(segment).unlink(missing_ok=True)
        del self._unsettled[segment]
