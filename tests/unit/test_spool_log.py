"""The spool's log on a real file system (no server): what a crash, a full disk or a damaged file leaves.

What must hold (docs/spool.md): an append that returned durable is read back whole after any crash; a
frame cut short at the end is cut off, never read as events; damage before the end refuses to start
rather than skip acknowledged events; a failed write leaves no part of a frame; the budget is a refusal.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from meterflow.adapters.spool import log as spool_log
from meterflow.adapters.spool.frames import SpooledBatch, encode, scan
from meterflow.adapters.spool.log import SpoolCorrupt, SpoolFull, SpoolLog
from meterflow.adapters.spool.spool import claim
from meterflow.domain.modes import Mode

HOUR_MS = 3_600_000


def batch(first_seq: int, events: int = 3, mode: Mode = Mode.TEST, received_ms: int = 10 * HOUR_MS + 5) -> SpooledBatch:
    return SpooledBatch(mode, first_seq, received_ms, "req_1",
                        tuple((b"cus_1", f'{{"idempotency_key":"k{first_seq + i}"}}'.encode()) for i in range(events)))


def test_a_frame_reads_back_as_written() -> None:
    written = [batch(1), batch(4, mode=Mode.LIVE), batch(7, events=1)]
    data = b"".join(map(encode, written))
    assert [b for b, _ in scan(data)] == written


def test_a_torn_tail_is_cut_at_every_possible_byte_and_appends_go_on_after_it(tmp_path: Path) -> None:
    whole = encode(batch(1)) + encode(batch(4))
    last = encode(batch(7))
    for cut in range(1, len(last)):
        directory = tmp_path / f"cut{cut}"
        directory.mkdir()
        (directory / f"{1:020d}.seg").write_bytes(whole + last[:cut])
        spool = SpoolLog(directory, 1 << 20, 1 << 20)
        assert [b.first_seq for b in spool.open(folded_through=0)] == [1, 4]
        assert (directory / f"{1:020d}.seg").stat().st_size == len(whole)
        spool.append(batch(7))
        spool.close()
        assert [b.first_seq for b in SpoolLog(directory, 1 << 20, 1 << 20).open(folded_through=0)] == [1, 4, 7]


def test_damage_before_the_end_of_the_log_refuses_to_start(tmp_path: Path) -> None:
    damaged = bytearray(encode(batch(1)) + encode(batch(4)))
    damaged[20] ^= 0xFF
    (tmp_path / f"{1:020d}.seg").write_bytes(bytes(damaged))
    (tmp_path / f"{7:020d}.seg").write_bytes(encode(batch(7)))
    with pytest.raises(SpoolCorrupt):
        SpoolLog(tmp_path, 1 << 20, 1 << 20).open(folded_through=0)


def test_segments_already_folded_into_the_state_are_removed_at_open(tmp_path: Path) -> None:
    """A crash between the state's write and a segment's deletion: the segment goes at the next start,
    and its events are neither forwarded again nor counted twice."""
    (tmp_path / f"{1:020d}.seg").write_bytes(encode(batch(1)))
    (tmp_path / f"{4:020d}.seg").write_bytes(encode(batch(4)))
    spool = SpoolLog(tmp_path, 1 << 20, 1 << 20)
    assert [b.first_seq for b in spool.open(folded_through=3)] == [4]
    assert sorted(p.name for p in tmp_path.glob("*.seg")) == [f"{4:020d}.seg"]
    assert sum(s.acknowledged[(Mode.TEST, 36_000)] for s in spool.segments) == 3


async def test_concurrent_appends_share_fsyncs_and_rotate_into_segments(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    flushes: list[int] = []
    real = spool_log._sync_all

    def counted(fds: list[int]) -> None:
        flushes.append(len(fds))
        real(fds)

    monkeypatch.setattr(spool_log, "_sync_all", counted)
    spool = SpoolLog(tmp_path, segment_bytes=2_000, max_bytes=1 << 20)
    spool.open(folded_through=0)

    async def append(seq: int) -> None:
        spool.append(batch(seq))
        await spool.durable()

    await asyncio.gather(*(append(1 + 3 * i) for i in range(200)))
    spool.close()
    assert len(flushes) < 200 / 4  # one flush covers many appends (group commit)
    assert len(list(tmp_path.glob("*.seg"))) > 1
    reread = SpoolLog(tmp_path, 2_000, 1 << 20).open(folded_through=0)
    assert [b.first_seq for b in reread] == [1 + 3 * i for i in range(200)]


def test_the_disk_budget_is_a_refusal_and_writes_nothing(tmp_path: Path) -> None:
    frame = len(encode(batch(1)))
    spool = SpoolLog(tmp_path, 1 << 20, max_bytes=2 * frame + frame // 2)
    spool.open(folded_through=0)
    spool.append(batch(1))
    spool.append(batch(4))
    with pytest.raises(SpoolFull):
        spool.append(batch(7))
    assert spool.refusing  # readiness says so until something is freed
    spool.close()
    assert [b.first_seq for b in SpoolLog(tmp_path, 1 << 20, 1 << 20).open(folded_through=0)] == [1, 4]


def test_a_full_disk_leaves_no_part_of_a_frame(tmp_path: Path) -> None:
    """The file size limit (RLIMIT_FSIZE) makes a write fail mid-frame, as a full disk does: the append
    is refused (Unavailable, a 503) and the segment holds only whole frames."""
    script = textwrap.dedent(f"""
        import resource, signal
        from pathlib import Path
        from meterflow.adapters.spool.log import SpoolLog
        from meterflow.domain.errors import Unavailable
        from tests.unit.test_spool_log import batch
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        spool = SpoolLog(Path({str(tmp_path)!r}), 1 << 20, 1 << 20)
        spool.open(folded_through=0)
        seq = 1
        try:
            while True:
                spool.append(batch(seq, events=4))
                seq += 4
        except Unavailable as refused:
            print(seq, refused)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    next_seq = int(done.stdout.split()[0])
    assert "could not write" in done.stdout
    segment = next(tmp_path.glob("*.seg"))
    assert segment.stat().st_size < 1000
    read = SpoolLog(tmp_path, 1 << 20, 1 << 20).open(folded_through=0)
    assert read[-1].last_seq == next_seq - 1
    assert segment.stat().st_size == len(b"".join(map(encode, read)))


def test_each_gateway_process_claims_a_directory_of_its_own_and_a_freed_one_is_taken_again(tmp_path: Path) -> None:
    """Two processes never append to one log; a worker restarted after a crash takes up what the dead one
    left (the lock dies with its holder)."""
    first, first_lock = claim(tmp_path)
    second, second_lock = claim(tmp_path)
    assert (first.name, second.name) == ("worker-0", "worker-1")
    os.close(first_lock)
    again, again_lock = claim(tmp_path)
    assert again == first
    os.close(again_lock)
    os.close(second_lock)
