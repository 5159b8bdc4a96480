"""`kubectl gatepass …` against the local cluster, found by kubectl on PATH like any plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client

from gatepass.contract import APPS, GROUP, POLICIES, REVOKE_SESSIONS_ANNOTATION, VERSION
from tests.support.apps import ANY_TOKEN, Apps
from tests.support.cluster import ClusterInfo
from tests.support.operator import OperatorProcess
from tests.support.tokens import Tokens, ts
from tests.support.waiting import wait_for


class Plugin:
    """`kubectl gatepass` with kubectl and the plugin on PATH, as a user would have them."""

    def __init__(self, bindir: Path, kubeconfig: Path, namespace: str) -> None:
        self.path = os.pathsep.join([str(bindir), str(Path(sys.executable).parent), os.environ["PATH"]])
        self.base = ["kubectl", "gatepass", "--kubeconfig", str(kubeconfig), "-n", namespace]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PATH": self.path}
        return subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def kubectl_gatepass(cluster: ClusterInfo, tmp_path: Path, namespace: str) -> Plugin:
    if cluster.bindir is None:
        pytest.skip("needs the local kubectl build")
    (tmp_path / "kubectl").symlink_to(cluster.bindir / "localcluster")
    return Plugin(tmp_path, cluster.kubeconfig, namespace)


def test_plugin_verbs(
    kubectl_gatepass: Plugin, api: client.ApiClient, namespace: str, running_operator: OperatorProcess
) -> None:
    tokens, apps = Tokens(api, namespace), Apps(api, namespace)
    tokens.create("ci", {"duration": "240h", "rotationGracePeriod": "1h"})
    first = tokens.wait_ready("ci")
    creds = tokens.creds("ci")

    out = kubectl_gatepass("status")
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()
    assert header.split()[:4] == ["NAMESPACE", "NAME", "CLIENT", "ID"]
    assert creds.client_id in row
    assert "True/Issued" in row
    assert "10.0" in row or "9.9" in row  # days left

    assert kubectl_gatepass("refresh", "ci").returncode == 0
    wait_for(lambda: tokens.status("ci").get("lastRefreshRequest"), timeout=5)
    assert ts(tokens.status("ci")["expiresAt"]) >= ts(first["expiresAt"])

    assert kubectl_gatepass("reactivate", "ci").returncode == 0
    reactivated = wait_for(lambda: tokens.status("ci").get("reactivatedAt"), timeout=5)
    assert ts(reactivated) >= ts(first["createdAt"])

    out = kubectl_gatepass("rotate", "ci", "--grace", "0s")
    assert out.returncode == 0, out.stderr
    rotated = wait_for(
        lambda: (s := tokens.status("ci")).get("secretHash") != first["secretHash"] and s, timeout=5
    )
    assert "previousSecretHash" not in rotated  # --grace 0s: the old secret stopped at once

    out = kubectl_gatepass("rotate", "ci", "--grace", "10m")
    assert (out.returncode, out.stderr.strip()) == (
        1,
        "error: --grace: a grace period must be 0s or between 1h and 720h, got 0:10:00",
    )
    assert kubectl_gatepass("rotate", "ci", "--grace", "2h").returncode == 0
    graced = wait_for(
        lambda: tokens.status("ci").get("previousSecretHash") and tokens.status("ci"), timeout=5
    )
    assert graced["previousSecretHash"] == rotated["secretHash"]
    out = kubectl_gatepass("end-grace", "ci", "--at", "tomorrow")
    assert out.returncode == 1
    assert "--at" in out.stderr
    out = kubectl_gatepass("end-grace", "ci")
    assert out.returncode == 0, out.stderr
    wait_for(lambda: "previousSecretHash" not in tokens.status("ci"), timeout=5, what="grace ended")
    wait_for(lambda: "GraceEnded" in tokens.reasons("ci"), timeout=5, what="the GraceEnded Event")

    out = kubectl_gatepass("headers", "ci")
    assert out.returncode == 0
    new = tokens.creds("ci")
    assert out.stdout.strip() == (
        f'-H "CF-Access-Client-Id: {new.client_id}" -H "CF-Access-Client-Secret: {new.client_secret}"'
    )
    assert "warning" in out.stderr

    apps.create("site", {"hosts": ["site.test"], "upstream": "http://127.0.0.1:1", "policies": ANY_TOKEN})
    apps.wait_aud("site")
    before = datetime.now(UTC)
    assert kubectl_gatepass("revoke-sessions", "site").returncode == 0
    revoked = ts(wait_for(lambda: apps.status("site").get("sessionsRevokedBefore"), timeout=5))
    obj = cast(
        dict[str, Any], apps.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, APPS, "site")
    )
    asked_at = obj["metadata"]["annotations"][REVOKE_SESSIONS_ANNOTATION]
    assert "." in asked_at  # the moment to the microsecond, not its second
    assert before <= ts(asked_at) <= revoked

    apps.custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, POLICIES,
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AccessPolicy", "metadata": {"name": "shared"},
         "spec": {"decision": "serviceAuth", "include": [{"anyServiceToken": {}}]}},
    )  # fmt: skip
    refs = [{"policyRef": {"name": "shared"}}, {"policyRef": {"name": "gone"}}]
    apps.create("shared-site", {"hosts": ["shared.test"], "upstream": "http://127.0.0.1:1", "policies": refs})
    out = kubectl_gatepass("policies", "shared-site")
    assert out.returncode == 0, out.stderr
    assert [line.split()[:3] for line in out.stdout.splitlines()[1:]] == [
        ["1", "shared", "serviceAuth"],
        ["2", "gone", "MISSING"],
    ]

    everywhere = kubectl_gatepass("status", "-A")
    assert namespace in everywhere.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["refresh", "nope"], "servicetoken {ns}/nope not found"),
        (["rotate", "nope", "--grace", "soon"], "--grace: not a duration"),
        (["headers", "nope"], "not found"),
        (["revoke-sessions", "nope"], "accessapplication {ns}/nope not found"),
    ],
)
def test_plugin_errors_are_one_clear_line(
    kubectl_gatepass: Plugin, crds: None, namespace: str, args: list[str], message: str
) -> None:
    out = kubectl_gatepass(*args)
    assert out.returncode == 1
    assert out.stderr.startswith("error: ")
    assert message.format(ns=namespace) in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr
