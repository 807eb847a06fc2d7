"""The spool's small state file, beside its segments: what must outlive a segment's deletion.

- `spool_id`: names this spool in every delivery id it forwards (`<spool id>.<sequence>`); kept for the
  life of the directory, so a batch forwarded again after a restart carries the ids it had.
- `settled_through`: every event up to this sequence is known to be counted (or dead-lettered); not
  forwarded again after a restart.
- `folded_through` and `acknowledged`: events appended per (mode, hour of received_at) in segments already
  deleted (up to that sequence); live segments add their own on reading. The exact count of events
  acknowledged over HTTP, whatever became of them after.

Written whole to a temporary file, fsynced and renamed over the old one: a crash leaves the old state or
the new, never a mix. A segment is deleted only after the state that folds its counts in is durable.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from meterflow.domain.modes import Mode

# (mode, start of the hour of received_at in epoch seconds) → events appended
HourCounts = Counter[tuple[Mode, int]]
FILE = "state.json"


@dataclass
class SpoolState:
    spool_id: str
    settled_through: int = 0
    folded_through: int = 0
    acknowledged: HourCounts = field(default_factory=Counter)

    @classmethod
    def load(cls, directory: Path) -> SpoolState:
        path = directory / FILE
        if not path.exists():
            state = cls(secrets.token_hex(4))
            state.save(directory)
            return state
        data = json.loads(path.read_text())
        return cls(data["spool_id"], data["settled_through"], data["folded_through"],
                   Counter({(Mode(mode), hour): n for mode, hour, n in data["acknowledged"]}))

    def save(self, directory: Path) -> None:
        data = {"spool_id": self.spool_id, "settled_through": self.settled_through,
                "folded_through": self.folded_through,
                "acknowledged": sorted([mode.value, hour, n] for (mode, hour), n in self.acknowledged.items())}
        temporary = directory / f"{FILE}.tmp"
        with open(temporary, "w") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, directory / FILE)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
