"""Two pytest-xdist workers never pick the same port: a port one has chosen for a service it starts later
in its session must stay free of the other's servers."""

from __future__ import annotations

import pytest

from testkit import ports


def band_of(monkeypatch: pytest.MonkeyPatch, worker: str, workers: int) -> range:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(workers))
    return ports._band()


def test_each_worker_picks_from_a_band_of_its_own_below_the_ephemeral_range(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = band_of(monkeypatch, "gw0", 2), band_of(monkeypatch, "gw1", 2)
    assert not set(first) & set(second)
    assert len(first) == len(second) > 1_000
    assert second.stop <= ports._ephemeral_low()
    assert ports.free_port() in second


def test_one_process_alone_has_the_whole_band(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    whole = ports._band()
    assert whole.stop == ports._ephemeral_low() and len(whole) == min(ports.BAND, whole.stop - 1024)


def test_a_service_in_copies_gets_its_copies_ports_kept_free_and_never_handed_out_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    base = ports.free_port(3, 100)
    copies = {base, base + 100, base + 200}
    assert copies <= set(ports._band())  # the last copy's port is still this worker's
    assert copies <= ports._handed_out
    assert not copies & {ports.free_port() for _ in range(500)}
