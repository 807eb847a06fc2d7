"""`meterflow run` (the README's first command): everything up, then SIGTERM leaves no process and no port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import httpx

from meterflow.embedded import free_port

PORT_NAMES = ("EMBEDDED_KAFKA_PORT", "EMBEDDED_REDIS_PORT", "EMBEDDED_POSTGRES_PORT", "API_PORT",
              "PROCESSOR_WEB_PORT", "CLOSER_WEB_PORT")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def children_of(pid: int) -> set[int]:
    found, frontier = set(), {pid}
    while frontier:
        parent = frontier.pop()
        listed = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent)], capture_output=True, text=True)
        kids = {int(p) for p in listed.stdout.split()}
        found |= kids
        frontier |= kids
    return found


def test_run_starts_everything_and_sigterm_stops_every_child() -> None:
    ports = {name: free_port() for name in PORT_NAMES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MF_")}
    env |= {f"MF_{name}": str(port) for name, port in ports.items()}
    env["MF_DATA_DIR"] = tempfile.mkdtemp(prefix="meterflow-run-")
    run = subprocess.Popen([sys.executable, "-m", "services", "run"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        assert run.stdout is not None
        banner = run.stdout.readline()
        assert f"http://127.0.0.1:{ports['API_PORT']}" in banner, banner
        ready = httpx.get(f"http://127.0.0.1:{ports['API_PORT']}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        children = children_of(run.pid)
        assert len(children) >= 6  # three servers and three services

        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{c}") for c in children):
            time.sleep(0.1)
        assert not [c for c in children if os.path.exists(f"/proc/{c}")], "orphans left behind"
        assert not [p for p in ports.values() if listening(p)], "ports still held"
    finally:
        if run.poll() is None:
            run.kill()
