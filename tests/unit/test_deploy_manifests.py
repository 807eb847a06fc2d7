"""The Kubernetes manifests (deploy/kubernetes/) are valid and keep the promises a cluster relies on.

Validated offline against the Kubernetes schemas that `kubernetes-validate` ships, strictly (an unknown or
misspelt field fails). Then the invariants a schema cannot see: every service of `meterflow run` is
deployed, probed on the port its settings give it, bounded in resources, covered by a disruption budget;
the processors' autoscaler never goes past the events topics' partitions; no image floats on `latest`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from meterflow.settings import Settings
from services.topology import SERVICES

MANIFESTS = Path(__file__).parents[2] / "deploy" / "kubernetes"
# The Secrets' shape with placeholder values: applied by hand (edited), never by the kustomization.
SECRETS_EXAMPLE = "secrets.example.yaml"
# The oldest Kubernetes release the manifests are written for (every field used is GA there).
KUBERNETES_VERSION = "1.30"
WORKLOAD_KINDS = ("Deployment", "StatefulSet")

Manifest = dict[str, Any]


def _documents(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _kustomization() -> Manifest:
    return _documents(MANIFESTS / "kustomization.yaml")[0]


def _resources() -> list[Manifest]:
    names = [*_kustomization()["resources"], SECRETS_EXAMPLE]
    return [doc for name in names for doc in _documents(MANIFESTS / name)]


def _of_kind(*kinds: str) -> list[Manifest]:
    return [doc for doc in _resources() if doc["kind"] in kinds]


def _named(kind: str, name: str) -> Manifest:
    [found] = [doc for doc in _of_kind(kind) if doc["metadata"]["name"] == name]
    return found


def _containers(doc: Manifest) -> list[Manifest]:
    containers: list[Manifest] = doc["spec"]["template"]["spec"]["containers"]
    return containers


def _pod_labels(doc: Manifest) -> dict[str, str]:
    labels: dict[str, str] = doc["spec"]["template"]["metadata"]["labels"]
    return labels


def _topic_partitions() -> int:
    return int(_named("ConfigMap", "meterflow-config")["data"]["MF_TOPIC_PARTITIONS"])


def test_the_kustomization_lists_every_manifest_file_but_the_secrets_example() -> None:
    """A file left out of the kustomization is never applied (nor checked below); the example Secrets
    are left out on purpose, or an apply would put placeholders over the real ones."""
    on_disk = {path.name for path in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(_kustomization()["resources"]) == on_disk - {SECRETS_EXAMPLE}


@pytest.mark.parametrize("path", sorted(set(MANIFESTS.glob("*.yaml")) - {MANIFESTS / "kustomization.yaml"}),
                         ids=lambda path: path.name)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(path: Path) -> None:
    documents = _documents(path)
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_catches_a_misspelt_field() -> None:
    """The strict check is what makes the test above worth having: a typo in a probe is an error."""
    deployment = _named("Deployment", "meterflow-processor")
    container = _containers(deployment)[0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_service_of_meterflow_run_is_deployed() -> None:
    commands = {_containers(doc)[0]["args"][0] for doc in _of_kind(*WORKLOAD_KINDS)}
    assert commands == set(SERVICES)


def test_the_setup_jobs_migrate_the_database_and_create_the_topics() -> None:
    commands = {_containers(doc)[0]["args"][0] for doc in _of_kind("Job")}
    assert commands == {"migrate", "topics"}


def _web_port(service: str) -> int:
    """The port each process serves /healthz and /readyz on, from the settings' defaults."""
    defaults = Settings()
    ports = {"gateway": defaults.api_port, "processor": defaults.processor_web_port,
             "closer": defaults.closer_web_port, "webhooks": defaults.webhook_web_port,
             "payments": defaults.payments_web_port}
    return ports[service]


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_is_probed_on_the_port_it_serves_health_on(service: str) -> None:
    [workload] = [doc for doc in _of_kind(*WORKLOAD_KINDS) if _containers(doc)[0]["args"] == [service]]
    [container] = _containers(workload)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        check = container[probe]["httpGet"]
        assert check["path"] == path, f"{service} {probe}"
        assert ports[check["port"]] == _web_port(service), f"{service} {probe} port"


def test_every_container_has_resources_requested_and_memory_bounded() -> None:
    for doc in _of_kind(*WORKLOAD_KINDS, "Job"):
        for container in _containers(doc):
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), doc["metadata"]["name"]
            assert "memory" in resources["limits"], doc["metadata"]["name"]


def test_no_image_floats_and_every_image_is_the_pinned_release() -> None:
    """`latest` (or no tag) would run whatever was pushed last, on some pods and not others."""
    [pinned] = _kustomization()["images"]
    for doc in _of_kind(*WORKLOAD_KINDS, "Job"):
        for container in _containers(doc):
            name, _, tag = container["image"].partition(":")
            assert tag and tag != "latest", container["image"]
            assert (name, tag) == (pinned["name"], pinned["newTag"]), container["image"]


def test_every_workload_has_a_disruption_budget_that_selects_its_pods() -> None:
    budgets = _of_kind("PodDisruptionBudget")
    for doc in _of_kind(*WORKLOAD_KINDS):
        labels = _pod_labels(doc)
        covering = [pdb for pdb in budgets if pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(covering) == 1, doc["metadata"]["name"]
        assert covering[0]["spec"]["maxUnavailable"] < doc["spec"]["replicas"]


def test_the_processor_autoscaler_stops_at_the_partition_count() -> None:
    """A processor beyond an events topic's partitions holds none: it only costs the group a rebalance."""
    [autoscaler] = _of_kind("HorizontalPodAutoscaler")
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == "meterflow-processor"
    assert 1 <= autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"] <= _topic_partitions()


def test_only_the_processor_is_autoscaled() -> None:
    """The gateway keeps acknowledged events on its own volume: an autoscaler would scale it down without
    waiting for its spool to empty."""
    targets = {doc["spec"]["scaleTargetRef"]["name"] for doc in _of_kind("HorizontalPodAutoscaler")}
    assert targets == {"meterflow-processor"}


def test_the_gateway_spool_is_on_a_volume_of_its_own_per_replica() -> None:
    gateway = _named("StatefulSet", "meterflow-gateway")
    [container] = _containers(gateway)
    spool_dir = {env["name"]: env["value"] for env in container["env"]}["MF_SPOOL_DIR"]
    [claim] = gateway["spec"]["volumeClaimTemplates"]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert mounts[spool_dir] == claim["metadata"]["name"]


def test_every_config_map_and_secret_a_pod_reads_is_defined() -> None:
    defined = {(doc["kind"], doc["metadata"]["name"]) for doc in _of_kind("ConfigMap", "Secret")}
    for doc in _of_kind(*WORKLOAD_KINDS, "Job"):
        for container in _containers(doc):
            for source in container["envFrom"]:
                [(reference, target)] = source.items()
                kind = "ConfigMap" if reference == "configMapRef" else "Secret"
                assert (kind, target["name"]) in defined, doc["metadata"]["name"]


def test_health_is_served_beyond_the_pod_itself() -> None:
    """Probes come from the kubelet, over the pod's address: a process bound to 127.0.0.1 never passes."""
    config = _named("ConfigMap", "meterflow-config")["data"]
    assert config["MF_API_HOST"] == config["MF_PROCESSOR_WEB_HOST"] == "0.0.0.0"
