"""docker-compose.yml holds together: what each service depends on or mounts is defined, and the Redis
Cluster profile is a cluster the services wait for and reach through a `redis+cluster://` URL.

Docker is not on the test machines, so this checks the file's shape, not a running stack.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from services.topology import SERVICES

COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"
CLUSTER_PROFILE = "redis-cluster"
CLUSTER_NODES = ("valkey-1", "valkey-2", "valkey-3")
CLUSTER_CREATE = "redis-cluster-create"
# The services that read or write Redis (the webhook and payment workers use Postgres only).
REDIS_CLIENTS = ("gateway", "processor", "closer")


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_every_dependency_names_a_defined_service() -> None:
    services = _services()
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= services.keys(), name


def test_every_named_volume_is_declared() -> None:
    declared = set(_compose()["volumes"])
    for name, service in _services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith((".", "/")) or source in declared, f"{name}: {volume}"


def test_every_service_of_meterflow_run_is_in_compose() -> None:
    commands = {service["command"][0] for service in _services().values() if service.get("image") == "meterflow:local"}
    assert set(SERVICES) <= commands


def test_the_cluster_profile_has_three_nodes_that_fsync_every_write() -> None:
    """Counting commits offsets right after its Redis transaction: each node must have it on disk first."""
    services = _services()
    for node in CLUSTER_NODES:
        command = services[node]["command"]
        assert services[node]["profiles"] == [CLUSTER_PROFILE]
        assert _flag(command, "--cluster-enabled") == "yes"
        assert _flag(command, "--appendonly") == "yes"
        assert _flag(command, "--appendfsync") == "always"
    volumes = {services[node]["volumes"][0].split(":")[0] for node in CLUSTER_NODES}
    assert len(volumes) == len(CLUSTER_NODES), "each node keeps its AOF and nodes.conf on its own volume"


def test_the_cluster_is_created_from_all_three_nodes_once_they_answer() -> None:
    create = _services()[CLUSTER_CREATE]
    assert create["profiles"] == [CLUSTER_PROFILE]
    assert create["restart"] == "no"
    assert {name: dep["condition"] for name, dep in create["depends_on"].items()} == dict.fromkeys(
        CLUSTER_NODES, "service_healthy")
    script = " ".join(create["command"])
    assert "--cluster create" in script
    assert set(re.findall(r"getent hosts (valkey-\d)", script)) == set(CLUSTER_NODES)


def test_services_that_use_redis_wait_for_the_cluster_only_when_the_profile_is_on() -> None:
    for name in REDIS_CLIENTS:
        dependency = _services()[name]["depends_on"][CLUSTER_CREATE]
        assert dependency == {"condition": "service_completed_successfully", "required": False}, name


def test_the_documented_cluster_command_points_the_services_at_a_cluster_node() -> None:
    """The header's command sets MF_REDIS_URL to `redis+cluster://` a node of the profile, and every
    meterflow service takes MF_REDIS_URL from the environment (its single-Redis URL only as the default)."""
    [url] = re.findall(r"MF_REDIS_URL=(\S+) docker compose --profile " + CLUSTER_PROFILE, COMPOSE.read_text())
    scheme, _, address = url.partition("://")
    assert scheme == "redis+cluster"
    assert address.split(":")[0] in CLUSTER_NODES
    for name in SERVICES:
        assert _services()[name]["environment"]["MF_REDIS_URL"].startswith("${MF_REDIS_URL:-redis://redis:"), name
