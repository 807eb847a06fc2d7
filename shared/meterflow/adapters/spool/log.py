"""The spool's log: segment files of checksummed frames, appended and made durable with group commit.

Each segment is named by the first sequence number it holds (`00000000000000000042.seg`). Appends write
the whole frame at the end of the active segment from the event loop (page cache, microseconds), then
wait for a shared fsync: one `fdatasync` covers every frame written before it started, so concurrent
requests share one disk flush instead of queueing one each (group commit).

What may go wrong, and what it leaves:
- kill -9 or power loss mid-append: the last frame is cut short; `open` finds it by its length or
  checksum and cuts it off (that batch was never acknowledged: its fsync had not returned).
- a write that fails (disk full, quota, I/O error): the segment is truncated back to where the frame
  began, so it never holds part of a frame, and the append raises `Unavailable` (a 503 with Retry-After).
- an fsync that fails: the kernel may have dropped the pages it could not write, so nothing written since
  the last good fsync can be trusted; the log refuses every append from then on until the gateway is
  restarted (and `open` reads what really is on disk).
- a damaged frame anywhere but at the end of the last segment is not a torn write: `open` refuses to
  start rather than skip acknowledged events (`SpoolCorrupt`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from meterflow.adapters.spool.frames import SpooledBatch, encode, scan
from meterflow.adapters.spool.state import HourCounts
from meterflow.domain.errors import Unavailable
from meterflow.domain.modes import Mode

log = logging.getLogger(__name__)
SUFFIX = ".seg"
HOUR_MS = 3_600_000


class SpoolFull(Unavailable):
    """The spool's disk budget (MF_SPOOL_MAX_BYTES) is used up by events not yet known to be counted."""


class SpoolCorrupt(RuntimeError):
    """A damaged frame before the end of the log: not a torn write, and not ours to skip."""


def hour_of(batch: SpooledBatch) -> tuple[Mode, int]:
    return batch.mode, batch.received_ms // HOUR_MS * 3600


@dataclass
class Segment:
    path: Path
    first_seq: int
    last_seq: int
    size: int
    fd: int | None = None
    sealed: bool = False  # fully counted, about to be deleted: never appended to again
    acknowledged: HourCounts = field(default_factory=Counter)


class SpoolLog:
    def __init__(self, directory: Path, segment_bytes: int, max_bytes: int) -> None:
        self._directory, self._segment_bytes, self._max_bytes = directory, segment_bytes, max_bytes
        self.segments: list[Segment] = []
        self._written = self._synced = 0
        self._sync: asyncio.Task[None] | None = None
        self._retiring: list[Segment] = []
        self._broken: OSError | None = None
        self.refusing = False  # a batch was refused for the budget, and nothing was freed since

    @property
    def bytes(self) -> int:
        return sum(s.size for s in self.segments)

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def open(self, folded_through: int) -> list[SpooledBatch]:
        """Read every segment back, cut a torn tail, drop segments already folded into the state (a crash
        between the state's write and the unlink); return the batches on disk, oldest first."""
        paths = sorted(self._directory.glob(f"*{SUFFIX}"), key=lambda p: int(p.stem))
        batches: list[SpooledBatch] = []
        for index, path in enumerate(paths):
            data = path.read_bytes()
            found, valid_end = [], 0
            for batch, end in scan(data):
                found.append(batch)
                valid_end = end
            if valid_end < len(data):
                if index < len(paths) - 1:
                    raise SpoolCorrupt(f"{path}: damaged frame at byte {valid_end}, before the end of the log")
                log.warning("spool: cut a torn tail of %d bytes from %s", len(data) - valid_end, path.name)
                with open(path, "r+b") as torn:
                    torn.truncate(valid_end)
                    os.fsync(torn.fileno())
            last_seq = found[-1].last_seq if found else int(path.stem) - 1
            if found and last_seq <= folded_through:
                path.unlink()
                continue
            segment = Segment(path, int(path.stem), last_seq, valid_end)
            for batch in found:
                segment.acknowledged[hour_of(batch)] += len(batch.events)
            self.segments.append(segment)
            batches += found
        _sync_directory(self._directory)
        return batches

    def append(self, batch: SpooledBatch) -> None:
        """Write the frame at the end of the log (not yet durable: await `durable`)."""
        if self._broken is not None:
            raise Unavailable(f"the spool's disk failed ({self._broken.strerror}); restart the gateway")
        frame = encode(batch)
        if self.bytes + len(frame) > self._max_bytes:
            self.refusing = True
            raise SpoolFull("the spool is full (MF_SPOOL_MAX_BYTES) while the event log is away; retry later")
        segment = self._writable(batch.first_seq, len(frame))
        assert segment.fd is not None
        try:
            _write_all(segment.fd, frame)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(segment.fd, segment.size)
            raise Unavailable(f"the spool could not write the batch ({exc.strerror}); retry later") from None
        segment.size += len(frame)
        segment.last_seq = batch.last_seq
        segment.acknowledged[hour_of(batch)] += len(batch.events)
        self._written += 1

    async def durable(self) -> None:
        """Return once everything appended before the call is on disk (one fsync shared by all waiters)."""
        target = self._written
        while self._synced < target:
            if self._sync is None or self._sync.done():
                self._sync = asyncio.create_task(self._flush())
            await asyncio.shield(self._sync)
        if self._broken is not None:
            raise Unavailable(f"the spool's disk failed ({self._broken.strerror}); restart the gateway")

    async def _flush(self) -> None:
        upto, retiring = self._written, self._retiring
        self._retiring = []
        fds = [s.fd for s in (*retiring, *self.segments[-1:]) if s.fd is not None]
        try:
            await asyncio.to_thread(_sync_all, fds)
        except OSError as exc:
            log.error("spool: fsync failed (%s); refusing appends until restarted", exc)
            self._broken = exc
        for segment in retiring:
            _close(segment)
        self._synced = max(self._synced, upto)

    def _writable(self, next_seq: int, frame_bytes: int) -> Segment:
        """The active segment, or a new one once it is full (a frame larger than a segment gets one alone)."""
        active = self.segments[-1] if self.segments else None
        if active is not None and not active.sealed and (
                not active.size or active.size + frame_bytes <= self._segment_bytes):
            if active.fd is None:
                active.fd = os.open(active.path, os.O_WRONLY | os.O_APPEND)
            return active
        if active is not None and active.fd is not None and not active.sealed:
            self._retiring.append(active)  # closed by the next flush, once its last frames are on disk
        path = self._directory / f"{next_seq:020d}{SUFFIX}"
        active = Segment(path, next_seq, next_seq - 1, 0, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND))
        _sync_directory(self._directory)
        self.segments.append(active)
        return active

    def take_settled(self, settled_through: int) -> list[Segment]:
        """Segments whose every event is known to be counted, sealed for deletion: nothing is appended
        to them any more (the next append opens a new segment). The active segment is left while a flush
        is using it."""
        flushing = self._sync is not None and not self._sync.done()
        taken = [s for s in self.segments if s.last_seq <= settled_through and s not in self._retiring
                 and not (flushing and s.fd is not None)]
        for segment in taken:
            _close(segment)
            segment.sealed = True
        return taken

    def delete(self, segment: Segment) -> None:
        _close(segment)
        segment.path.unlink(missing_ok=True)
        _sync_directory(self._directory)
        self.segments.remove(segment)
        self.refusing = False

    def close(self) -> None:
        for segment in (*self._retiring, *self.segments):
            if segment.fd is not None:
                with contextlib.suppress(OSError):
                    os.fsync(segment.fd)
            _close(segment)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _sync_all(fds: list[int]) -> None:
    for fd in fds:
        os.fdatasync(fd)


def _close(segment: Segment) -> None:
    if segment.fd is not None:
        with contextlib.suppress(OSError):
            os.close(segment.fd)
        segment.fd = None


def _sync_directory(directory: Path) -> None:
    """A new or removed segment is durable only once its directory entry is."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
