"""The image as `docker build` makes it, on a cluster that is not ours: `helm install` with no
`--set` runs it, and the operator in it issues a token.

Runs where a Docker engine exists (`make kind-e2e`, ci.yml's kind job): the image is built by
`docker build` and loaded with `kind load docker-image` (tests/support/cluster.py). It runs in
a pytest session of its own, since the operator it installs serves every namespace. Here, with
no Docker engine, tests/e2e/test_pods.py proves the same on the local node.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.cluster import ROOT, ClusterInfo
from tests.support.waiting import wait_for

sys.path.insert(0, str(ROOT / "tools"))

import image

pytestmark = pytest.mark.skipif(
    os.environ.get("GATEPASS_TEST_CLUSTER", "local") == "local" or not os.environ.get("GATEPASS_TEST_IMAGE"),
    reason="needs a cluster with the docker-built image loaded (make kind-e2e)",
)
NS = "gatepass-system"


@pytest.fixture(scope="module")
def installed(cluster: ClusterInfo) -> Iterator[ClusterInfo]:
    helm = [cluster.helm, f"--kubeconfig={cluster.kubeconfig}"]
    chart = str(ROOT / "charts" / "gatepass")
    subprocess.run(
        [*helm, "install", "gatepass", chart, "-n", NS, "--create-namespace", "--wait", "--timeout", "300s"],
        check=True,
        timeout=360,
    )
    try:
        yield cluster
    finally:
        subprocess.run([*helm, "uninstall", "gatepass", "-n", NS, "--wait"], check=False, timeout=300)


def test_the_charts_default_image_is_the_one_built(installed: ClusterInfo) -> None:
    assert os.environ["GATEPASS_TEST_IMAGE"] == image.image_name()
    spec = json.loads(installed.kubectl("get", "deploy", "gatepass-operator", "-n", NS, "-o", "json").stdout)
    assert spec["spec"]["template"]["spec"]["containers"][0]["image"] == image.image_name()
    assert spec["status"].get("availableReplicas", 0) >= 1


def test_the_operator_in_the_image_issues_a_token(installed: ClusterInfo, namespace: str) -> None:
    token = {
        "apiVersion": "gatepass.dev/v1alpha1",
        "kind": "ServiceToken",
        "metadata": {"name": "ci", "namespace": namespace},
        "spec": {"duration": "24h"},
    }
    installed.kubectl("apply", "-f", "-", input=json.dumps(token))

    def issued() -> dict[str, str] | None:
        got = installed.kubectl("get", "secret", "ci", "-n", namespace, "-o", "json", check=False)
        data: dict[str, str] | None = json.loads(got.stdout).get("data") if got.returncode == 0 else None
        return data

    data = wait_for(issued, timeout=120, what="the operator pod to issue the token's Secret")
    assert base64.b64decode(data["CF_ACCESS_CLIENT_ID"]).decode().endswith(".access")
    ready = installed.kubectl(
        "wait", "servicetoken/ci", "-n", namespace, "--for=condition=Ready", "--timeout=60s", check=False
    )
    assert ready.returncode == 0, ready.stderr
    gateway = installed.kubectl(
        "rollout", "status", "deploy/gatepass-gateway", "-n", NS, "--timeout=180s", check=False
    )
    assert gateway.returncode == 0, gateway.stderr
