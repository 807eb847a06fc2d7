"""`meterflow run` as a user starts it: its own process group (a terminal's foreground job), its own
ports and data folder, everything embedded."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.topology import COPY_PORT_STEP, WEB_PORT_VARIABLES, parse_scale
from testkit.folders import data_folder
from testkit.ports import free_port

PORT_NAMES = ("EMBEDDED_KAFKA_PORT", "EMBEDDED_REDIS_PORT", "EMBEDDED_POSTGRES_PORT", "API_PORT",
              "PROCESSOR_WEB_PORT", "CLOSER_WEB_PORT", "WEBHOOK_WEB_PORT", "PAYMENTS_WEB_PORT",
              "SUPERVISOR_WEB_PORT")


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


def children_running(pid: int, program: str, *args: str) -> list[int]:
    """The pids of the descendants of `pid` running `program` (its executable's name) with every word of
    `args`. Matched on whole words: a Postgres backend rewrites its command line into free text."""
    found = []
    for child in sorted(children_of(pid)):
        try:
            argv = [a.decode(errors="replace") for a in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue
        if argv and Path(argv[0]).name.startswith(program) and all(a in argv for a in args):
            found.append(child)
    return found


def child_running(pid: int, program: str, *args: str) -> int | None:
    """One such descendant (see `children_running`), if any."""
    return next(iter(children_running(pid, program, *args)), None)


@dataclass
class MeterflowRun:
    data_dir: str = field(default_factory=lambda: str(data_folder("meterflow-run-")))
    ports: dict[str, int] = field(default_factory=dict)  # by name without the prefix; chosen when not given
    process: subprocess.Popen[str] | None = None
    settings: dict[str, str] = field(default_factory=dict)  # more MF_* variables, by name without the prefix
    arguments: tuple[str, ...] = ()  # of `meterflow run` (`--scale …`)

    def __post_init__(self) -> None:
        """Each service's copies listen 100·(k-1) ports above its port: those are kept free too, or a
        server of the run could take one and the copy, unable to listen, would crash-loop the run."""
        scale = self.arguments[self.arguments.index("--scale") + 1] if "--scale" in self.arguments else ""
        counts = parse_scale(scale) if scale else {}
        copies = {variable.removeprefix("MF_"): counts.get(kind, 1) for kind, variable in WEB_PORT_VARIABLES.items()}
        self.ports = self.ports or {name: free_port(copies.get(name, 1), COPY_PORT_STEP) for name in PORT_NAMES}

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MF_")}
        env |= {f"MF_{name}": str(port) for name, port in self.ports.items()}
        env["MF_DATA_DIR"] = self.data_dir
        env |= {f"MF_{name}": value for name, value in self.settings.items()}
        return env

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['API_PORT']}"

    @property
    def log_path(self) -> Path:
        return Path(self.data_dir) / "run.log"

    def start(self) -> str:
        """Start it and wait for its banner (returned). Its log goes to a file, never a pipe: a pipe
        nobody reads fills up and blocks every service writing a log line."""
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "services", "run", *self.arguments],
                                            env=self.env, text=True, stdout=subprocess.PIPE, stderr=log,
                                            start_new_session=True)
        assert self.process.stdout is not None
        return self.process.stdout.readline()

    def create_key(self) -> str:
        made = self.meterflow("keys", "create", "--mode", "test")
        made.check_returncode()
        return made.stdout.strip()

    def meterflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A `meterflow` command against this run's servers."""
        return subprocess.run([sys.executable, "-m", "services", *args], env=self.env, capture_output=True,
                              text=True, timeout=60)

    def interrupt_group(self) -> None:
        """What a terminal's Ctrl-C does: SIGINT to every process of the foreground group."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)

    def wait(self, timeout_s: float) -> tuple[int, str]:
        """Exit status and the supervisor's own messages (the services' JSON log lines left out)."""
        assert self.process is not None
        self.process.communicate(timeout=timeout_s)
        return self.process.returncode, self.supervisor_messages()

    def supervisor_messages(self) -> str:
        """The supervisor's own messages in its log (the services' JSON log lines left out)."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(line for line in lines if not line.startswith("{"))

    def postmortem(self) -> str:
        """What a failed test needs to say why: the supervisor's messages (exits, restarts, a crash loop)
        and the last lines of each embedded server's log (a server that stopped says when and why)."""
        logs = sorted((Path(self.data_dir) / "logs").glob("*.log"))
        tails = [f"--- {log.name}, last lines:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                 for log in logs]
        return "\n".join(["--- meterflow run's own messages:", self.supervisor_messages(), *tails])

    def end(self) -> None:
        """kill -9 it if it still runs, and remove its folder, servers' data included (a failing test has
        printed the run's post-mortem by then)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    async def restarts(self, *services: str) -> list[float]:
        """`meterflow_service_restarts_total` of each service, from the supervisor's /metrics."""
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{self.ports['SUPERVISOR_WEB_PORT']}/metrics")).text
        lines = [f'meterflow_service_restarts_total{{service="{service}"}} ' for service in services]
        return [sum(float(row.removeprefix(line)) for row in text.splitlines() if row.startswith(line))
                for line in lines]


@contextlib.asynccontextmanager
async def started(run: MeterflowRun) -> AsyncIterator[httpx.AsyncClient]:
    """The run started (its banner names the API) and a client with a fresh test-mode key. A test failing
    inside prints the run's post-mortem, so that a failure in CI says what the run went through."""
    banner = await asyncio.to_thread(run.start)
    assert run.api_url in banner, banner
    key = await asyncio.to_thread(run.create_key)
    try:
        async with httpx.AsyncClient(base_url=run.api_url, headers={"Authorization": f"Bearer {key}"},
                                     timeout=10) as api:
            yield api
    except BaseException:
        print(run.postmortem())  # captured: shown with the failure
        raise


def restarted_since(before: list[float]) -> Callable[[list[float]], bool]:
    """Accepts restart counts once every service counted has been restarted again since `before`."""
    return lambda now: all(n > b for n, b in zip(now, before, strict=True))
