"""Shared fixtures: one cluster per session, one namespace per test."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from kubernetes import client, config

from tests.support.cluster import ROOT, ClusterInfo, provide_cluster
from tests.support.gateway import GatewayProcess, Upstream, deployment_env
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.tenants import new_namespace, tenant_api
from tests.support.waiting import wait_for

# Speed is measured in benchmarks, never asserted per example: hypothesis's 200 ms deadline
# failed on a loaded machine.
settings.register_profile("gatepass", deadline=None)
settings.load_profile("gatepass")


@pytest.fixture(scope="session")
def cluster() -> Iterator[ClusterInfo]:
    with provide_cluster() as info:
        yield info


@pytest.fixture(scope="session")
def api(cluster: ClusterInfo) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(config_file=str(cluster.kubeconfig)) as c:  # type: ignore[no-untyped-call]
        yield c


@pytest.fixture
def namespace(api: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace, deleted (and waited for) after the test."""
    core = client.CoreV1Api(api)
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_for(lambda: _has_default_sa(core, name), timeout=30, what=f"default ServiceAccount in {name}")
    yield name
    core.delete_namespace(name)


def _has_default_sa(core: client.CoreV1Api, ns: str) -> bool:
    return any(sa.metadata.name == "default" for sa in core.list_namespaced_service_account(ns).items)


@pytest.fixture
def intruder(api: client.ApiClient, cluster: ClusterInfo) -> Iterator[tuple[str, client.ApiClient]]:
    """A hostile tenant: its own namespace, and an API client that is only its identity there
    (`*` on gatepass.dev, tests/support/tenants.py)."""
    ns = new_namespace(api, "intruder")
    with tenant_api(cluster, api, ns) as tenant:
        yield ns, tenant
    client.CoreV1Api(api).delete_namespace(ns)


@pytest.fixture(scope="session")
def crds(cluster: ClusterInfo) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    cluster.kubectl("wait", "--for=condition=established", "--timeout=60s", "-f", str(ROOT / "crds"))


@pytest.fixture(scope="session")
def operator_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("operator") / "operator.log"


@pytest.fixture(scope="session")
def operator_namespace(api: client.ApiClient) -> str:
    """Where the operator keeps the signing keys and runs the gateway."""
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=OPERATOR_NAMESPACE)))
    return OPERATOR_NAMESPACE


@pytest.fixture(scope="session")
def operator(
    cluster: ClusterInfo, crds: None, operator_log: Path, operator_namespace: str
) -> Iterator[OperatorProcess]:
    """One operator for the session; tests that kill it start it again."""
    op = OperatorProcess(cluster.kubeconfig, operator_log)
    op.start()
    yield op
    op.stop()


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    up.start()
    yield up
    up.stop()


@pytest.fixture(scope="session")
def gateway(
    cluster: ClusterInfo,
    api: client.ApiClient,
    operator: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    """The gateway, run locally with the environment of the operator's Deployment."""
    apps = client.AppsV1Api(api)

    def deployed() -> bool:
        return any(
            d.metadata.name == "gatepass-gateway"
            for d in apps.list_namespaced_deployment(OPERATOR_NAMESPACE).items
        )

    wait_for(deployed, timeout=30, what="the gateway Deployment")
    env = deployment_env(api, OPERATOR_NAMESPACE, "gatepass-gateway")
    gw = GatewayProcess(cluster.kubeconfig, env, tmp_path_factory.mktemp("gateway") / "gateway.log")
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture
def running_operator(operator: OperatorProcess) -> OperatorProcess:
    """The session operator, restarted first if an earlier test left it stopped."""
    if not operator.running:
        operator.proc = None
        operator.start()
    return operator
