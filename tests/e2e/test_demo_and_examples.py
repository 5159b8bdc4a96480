"""The front door: `make demo` runs to the end; examples/ apply as they are."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from kubernetes import client

from tests.support.cluster import ROOT, ClusterInfo, localcluster
from tests.support.operator import OperatorProcess
from tests.support.tokens import Tokens


@pytest.mark.skipif(
    os.environ.get("GATEPASS_TEST_CLUSTER", "local") != "local" or not localcluster.node_wanted(),
    reason="the demo runs its own local cluster with a node",
)
def test_demo_runs_the_story_to_the_end() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "demo.py")], capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for step in (
        "Create a ServiceToken",
        "with the two headers",
        "send the cookie",
        "Refresh",
        "Rotate",
        "Revoke",
    ):
        assert step in out.stdout
    assert "[headers]  ->  200" in out.stdout
    assert "[cookie]  ->  200" in out.stdout
    assert "[the earlier cookie]  ->  401" in out.stdout
    assert "Done." in out.stdout
    # ... with pods: the chart's operator and gateway, the consumer that calls.
    assert "helm install gatepass charts/gatepass" in out.stdout
    for pod in ("pod/gatepass-operator-", "pod/gatepass-gateway-", "reporter-"):
        assert pod in out.stdout
    assert "the consumer's mounted file shows the new secret" in out.stdout
    assert "gpst_" not in out.stdout + out.stderr  # never prints a Client Secret


def test_examples_apply_as_they_are(
    cluster: ClusterInfo, api: client.ApiClient, namespace: str, running_operator: OperatorProcess
) -> None:
    for name in (
        "servicetoken.yaml",
        "accessapplication.yaml",
        "consumer-deployment.yaml",
        "workload-identity.yaml",
        "rollout.yaml",
    ):
        cluster.kubectl("apply", "-n", namespace, "-f", str(ROOT / "examples" / name))
    tokens = Tokens(api, namespace)
    tokens.wait_ready("ci-bot")
    deployment = client.AppsV1Api(api).read_namespaced_deployment("reporter", namespace)
    spec = deployment.spec.template.spec
    assert spec.containers[0].env_from[0].secret_ref.name == "ci-bot"
    assert spec.volumes[0].secret.secret_name == "ci-bot"
    tokens.wait_ready("exporter")
    exporter = tokens.get("exporter")
    assert exporter is not None
    assert exporter["spec"]["rollout"] == "Auto"
    reader = client.AppsV1Api(api).read_namespaced_deployment("reports-reader", namespace).spec.template.spec
    assert (
        reader.volumes[0].projected.sources[0].service_account_token.audience
        == "https://gatepass.example.com/reports-for-pods"  # the application the example defines
    )


def test_kustomization_and_gitops_snippets(cluster: ClusterInfo) -> None:
    import yaml

    rendered = [
        d for d in yaml.safe_load_all(cluster.kubectl("kustomize", str(ROOT / "examples")).stdout) if d
    ]
    assert sorted(d["kind"] for d in rendered) == ["AccessApplication", "Deployment", "ServiceToken"]
    for path in (ROOT / "examples" / "gitops").glob("*.yaml"):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert docs
        assert all("apiVersion" in d and "kind" in d and d["metadata"]["name"] for d in docs)
