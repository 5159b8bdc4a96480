"""The local control plane behaves like a real cluster where gatepass depends on it."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.cluster import ClusterInfo, localcluster
from tests.support.waiting import wait_for

WIDGET_CRD = yaml.safe_load((Path(__file__).parent / "testdata" / "widget-crd.yaml").read_text())


@pytest.fixture(scope="module")
def widgets(api: client.ApiClient) -> client.CustomObjectsApi:
    ext = client.ApiextensionsV1Api(api)
    try:
        ext.create_custom_resource_definition(WIDGET_CRD)
    except ApiException as e:
        if e.status != 409:
            raise

    def established() -> bool:
        crd = ext.read_custom_resource_definition(WIDGET_CRD["metadata"]["name"])
        return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

    wait_for(established, timeout=30, what="Widget CRD established")
    return client.CustomObjectsApi(api)


def widget(name: str, lo: int, hi: int) -> dict[str, object]:
    return {
        "apiVersion": "clustertest.gatepass.dev/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"min": lo, "max": hi},
    }


def test_crd_with_cel_rule_accepts_valid_and_rejects_invalid_objects(
    widgets: client.CustomObjectsApi, namespace: str
) -> None:
    widgets.create_namespaced_custom_object(
        "clustertest.gatepass.dev", "v1", namespace, "widgets", widget("ok", 1, 2)
    )
    with pytest.raises(ApiException) as err:
        widgets.create_namespaced_custom_object(
            "clustertest.gatepass.dev", "v1", namespace, "widgets", widget("bad", 3, 2)
        )
    assert err.value.status == 422
    assert "spec.min must not exceed spec.max" in str(err.value.body)


def test_owned_object_is_garbage_collected_after_owner_deletion(
    api: client.ApiClient, widgets: client.CustomObjectsApi, namespace: str
) -> None:
    owner: dict[str, Any] = widgets.create_namespaced_custom_object(  # type: ignore[assignment]
        "clustertest.gatepass.dev", "v1", namespace, "widgets", widget("owner", 1, 1)
    )
    core = client.CoreV1Api(api)
    ref = client.V1OwnerReference(
        api_version="clustertest.gatepass.dev/v1",
        kind="Widget",
        name="owner",
        uid=owner["metadata"]["uid"],
        controller=True,
    )
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owned", owner_references=[ref]))
    )
    widgets.delete_namespaced_custom_object("clustertest.gatepass.dev", "v1", namespace, "widgets", "owner")
    start = time.monotonic()

    def gone() -> bool:
        try:
            core.read_namespaced_config_map("owned", namespace)
            return False
        except ApiException as e:
            return bool(e.status == 404)

    wait_for(gone, timeout=10, what="owned ConfigMap garbage-collected")
    print(f"garbage-collected in {time.monotonic() - start:.2f}s")


def test_deployment_gets_replicaset_and_namespace_deletion_finishes(api: client.ApiClient) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = f"deploy-{os.getpid()}-{int(time.time())}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        ns,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=1,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx")]),
                ),
            ),
        ),
    )
    rs = wait_for(lambda: apps.list_namespaced_replica_set(ns).items, timeout=15, what="ReplicaSet")
    assert rs[0].metadata.owner_references[0].name == "web"
    core.delete_namespace(ns)

    def deleted() -> bool:
        try:
            core.read_namespace(ns)
            return False
        except ApiException as e:
            return bool(e.status == 404)

    wait_for(deleted, timeout=60, what=f"namespace {ns} to finish terminating")


def test_kubectl_and_helm_report_their_versions(cluster: ClusterInfo) -> None:
    out = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert out["serverVersion"]["gitVersion"] == out["clientVersion"]["gitVersion"]
    if cluster.local is not None:
        assert out["serverVersion"]["gitVersion"] == localcluster.K8S_VERSION
    helm = subprocess.run([cluster.helm, "version", "--short"], capture_output=True, text=True, check=True)
    assert helm.stdout.startswith("v3.")


def test_helm_installs_a_chart(cluster: ClusterInfo, namespace: str, tmp_path: Path) -> None:
    chart = tmp_path / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tiny\n"
        "data:\n  greeting: {{ .Values.greeting }}\n"
    )
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "HELM_CACHE_HOME": str(tmp_path / "cache"),
        "HELM_CONFIG_HOME": str(tmp_path / "config"),
        "HELM_DATA_HOME": str(tmp_path / "data"),
    }
    subprocess.run(
        [cluster.helm, "install", "tiny", str(chart), "-n", namespace, "--set", "greeting=hi", "--wait"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    cm = cluster.kubectl("get", "configmap", "tiny", "-n", namespace, "-o", "jsonpath={.data.greeting}")
    assert cm.stdout == "hi"


@pytest.mark.skipif(os.environ.get("GATEPASS_TEST_CLUSTER", "local") != "local", reason="local backend only")
def test_stop_ends_every_process_it_started() -> None:
    with tempfile.TemporaryDirectory(prefix="gatepass-stoptest-") as tmp:
        cluster = localcluster.LocalCluster(bindir=localcluster.build(), datadir=Path(tmp) / "data")
        try:
            took = cluster.start()
            print(f"second control plane ready in {took:.1f}s")
            pids = list(cluster.pids)
            assert len(pids) == 2
            assert all(cluster.running(p) for p in pids)
        finally:
            cluster.stop()
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists() or not localcluster._alive(pid), (
                f"pid {pid} still running"
            )
        assert not cluster.datadir.exists()
