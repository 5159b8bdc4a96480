"""`helm install` into a fresh control plane; the operator and the gateway then run
with the chart's ServiceAccounts' own tokens, proving the chart's RBAC is enough
(and no more than enough)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client, config

from tests.support.cluster import ROOT, localcluster
from tests.support.gateway import GatewayProcess
from tests.support.tokens import Tokens
from tests.support.waiting import free_port, wait_for

NS = "gatepass-system"
RELEASE = "gp"
pytestmark = pytest.mark.skipif(
    os.environ.get("GATEPASS_TEST_CLUSTER", "local") != "local",
    reason="installs into a control plane of its own",
)


class Fresh:
    def __init__(self, cluster: localcluster.LocalCluster, tmp: Path) -> None:
        self.cluster = cluster
        self.tmp = tmp
        self.helm_env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "HELM_CACHE_HOME": str(tmp / "helm-cache"),
            "HELM_CONFIG_HOME": str(tmp / "helm-config"),
            "HELM_DATA_HOME": str(tmp / "helm-data"),
        }

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.cluster.bindir / "helm"), *args],
            env=self.helm_env,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def kubectl(self, *args: str) -> str:
        return self.cluster.kubectl(*args)

    def service_account_kubeconfig(self, account: str, namespace: str = NS) -> Path:
        """A kubeconfig that is exactly that ServiceAccount (TokenRequest API)."""
        token = self.kubectl("create", "token", account, "-n", namespace, "--duration=1h").strip()
        admin = yaml.safe_load(self.cluster.kubeconfig.read_text())
        cfg: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": admin["clusters"],
            "users": [{"name": account, "user": {"token": token}}],
            "contexts": [{"name": account, "context": {"cluster": "localcluster", "user": account}}],
            "current-context": account,
        }
        path = self.tmp / f"{account}.kubeconfig"
        path.write_text(yaml.safe_dump(cfg))
        return path


def bind_builtin_role(api: client.ApiClient, namespace: str, account: str, role: str) -> None:
    """A ServiceAccount of ``namespace`` bound there to a built-in ClusterRole (edit, view)."""
    meta = client.V1ObjectMeta(name=account)
    client.CoreV1Api(api).create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata=meta))
    client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=f"{account}-{role}"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=account, namespace=namespace)],
        ),
    )


@pytest.fixture(scope="module")
def fresh() -> Iterator[Fresh]:
    with tempfile.TemporaryDirectory(prefix="gatepass-helm-") as tmp:
        cluster = localcluster.LocalCluster(bindir=localcluster.build(), datadir=Path(tmp) / "data")
        try:
            cluster.start()
            yield Fresh(cluster, Path(tmp))
        finally:
            cluster.stop()


def test_bad_values_fail_the_install_with_a_schema_message(fresh: Fresh) -> None:
    out = fresh.helm(
        "install", "bad", str(ROOT / "charts" / "gatepass"), "-n", NS, "--create-namespace",
        "--set", "gateway.replicas=many", "--set", "operatr.logLevel=DEBUG", check=False,
    )  # fmt: skip
    assert out.returncode != 0
    assert "/gateway/replicas" in out.stderr
    assert "additional properties 'operatr' not allowed" in out.stderr
    assert "bad" not in fresh.helm("list", "-A", "-q").stdout


def test_install_then_run_operator_and_gateway_as_the_charts_accounts(fresh: Fresh, tmp_path: Path) -> None:
    fresh.helm(
        "install", RELEASE, str(ROOT / "charts" / "gatepass"), "-n", NS, "--create-namespace",
        "--set", "gateway.cookieSecure=false", "--set", "gateway.issuer=https://gatepass.test",
    )  # fmt: skip
    fresh.kubectl("wait", "--for=condition=established", "--timeout=60s", "crd/servicetokens.gatepass.dev")
    crds = fresh.kubectl("get", "crd", "-o", "name")
    for name in (
        "servicetokens.gatepass.dev",
        "accessapplications.gatepass.dev",
        "accesspolicies.gatepass.dev",
        "clusterkopfpeerings.kopf.dev",
    ):
        assert name in crds
    api = config.new_client_from_config(config_file=str(fresh.cluster.kubeconfig))  # type: ignore[no-untyped-call]
    apps = client.AppsV1Api(api)
    operator_dep = apps.read_namespaced_deployment(f"{RELEASE}-operator", NS)
    assert operator_dep.spec.template.spec.service_account_name == f"{RELEASE}-operator"

    def can_as(who: str, *what: str) -> bool:
        out = subprocess.run(
            [str(fresh.cluster.bindir / "localcluster"), "kubectl",
             f"--kubeconfig={fresh.cluster.kubeconfig}", "auth", "can-i", *what, f"--as={who}"],
            capture_output=True, text=True,
        )  # fmt: skip
        return out.stdout.strip() == "yes"

    # What the chart's gateway account may and may not do.
    def can(account: str, *what: str) -> bool:
        return can_as(f"system:serviceaccount:{NS}:{RELEASE}-{account}", *what)

    assert not can("gateway", "list", "secrets", "-n", NS)
    assert not can("gateway", "list", "secrets", "--all-namespaces")
    assert not can("gateway", "get", "secrets", "-n", "default")
    assert can("gateway", "get", f"secrets/{RELEASE}-signing-keys", "-n", NS)
    assert can("gateway", "watch", "servicetokens.gatepass.dev", "--all-namespaces")
    assert not can("gateway", "update", "servicetokens.gatepass.dev", "--subresource=status", "-n", "default")
    assert not can("gateway", "patch", "servicetokens.gatepass.dev", "--subresource=status", "-n", "default")
    assert can("gateway", "patch", f"configmaps/{RELEASE}-last-seen-00", "-n", NS)
    assert can("gateway", "patch", f"configmaps/{RELEASE}-last-seen-31", "-n", NS)
    assert not can("gateway", "patch", f"configmaps/{RELEASE}-last-seen-32", "-n", NS)
    assert not can("gateway", "patch", "configmaps", "-n", NS)
    assert can("operator", "patch", "servicetokens.gatepass.dev", "--subresource=status", "-n", "default")
    assert not can("operator", "delete", "secrets", "-n", "default")
    assert not can("operator", "create", "deployments", "-n", "default")
    assert can("operator", "create", "deployments", "-n", NS)

    # The operator with its own token and the chart's environment, with its leader lease.
    (container,) = operator_dep.spec.template.spec.containers
    env = {e.name: e.value or "" for e in container.env if e.value_from is None}
    env.update(
        GATEPASS_NAMESPACE=NS,
        KUBECONFIG=str(fresh.service_account_kubeconfig(f"{RELEASE}-operator")),
        GATEPASS_METRICS_PORT=str(free_port()),
        GATEPASS_HEALTH_PORT=str(free_port()),
        GATEPASS_BIND_ADDRESS="127.0.0.1",
    )
    log = tmp_path / "operator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gatepass", "operator"],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    gateway = None
    try:
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="team")))
        tokens = Tokens(api, "team")
        tokens.create("issued-under-rbac")
        tokens.wait_ready("issued-under-rbac", timeout=30)

        # Tenants by the built-in roles alone (tenantRoles): an editor of "team" manages its
        # tokens, never their status nor another namespace's; a viewer reads them.
        editor, viewer = (f"system:serviceaccount:team:{n}" for n in ("dev", "auditor"))
        for name, role in (("dev", "edit"), ("auditor", "view")):
            bind_builtin_role(api, "team", name, role)
        wait_for(
            lambda: can_as(editor, "create", "servicetokens.gatepass.dev", "-n", "team"),
            timeout=15,
            what="the edit role to take in gatepass-edit (aggregation is asynchronous)",
        )
        assert can_as(editor, "delete", "accessapplications.gatepass.dev", "-n", "team")
        assert not can_as(editor, "patch", "servicetokens.gatepass.dev", "--subresource=status", "-n", "team")
        assert not can_as(
            editor, "update", "servicetokens.gatepass.dev", "--subresource=status", "-n", "team"
        )
        assert not can_as(editor, "create", "servicetokens.gatepass.dev", "-n", "default")
        wait_for(lambda: can_as(viewer, "list", "servicetokens.gatepass.dev", "-n", "team"), timeout=15,
                 what="the view role to take in gatepass-view")  # fmt: skip
        assert not can_as(viewer, "create", "servicetokens.gatepass.dev", "-n", "team")
        assert not can_as(viewer, "get", "secrets", "-n", "team")
        as_editor = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(fresh.service_account_kubeconfig("dev", "team"))
        )
        Tokens(as_editor, "team").create("by-an-editor")
        tokens.wait_ready("by-an-editor", timeout=30)
        gateway_selector = "app.kubernetes.io/component=gateway"
        wait_for(
            lambda: apps.list_namespaced_deployment(NS, label_selector=gateway_selector).items,
            timeout=10,
            what="the gateway Deployment",
        )
        lease = client.CoordinationV1Api(api).read_namespaced_lease(f"{RELEASE}-operator", NS)
        assert lease.spec.holder_identity  # it leads, under the chart's RBAC

        gw_dep = apps.read_namespaced_deployment(f"{RELEASE}-gateway", NS)
        assert gw_dep.spec.template.spec.service_account_name == f"{RELEASE}-gateway"
        (gw_container,) = gw_dep.spec.template.spec.containers
        gw_env = {e.name: e.value or "" for e in gw_container.env}
        gateway = GatewayProcess(
            fresh.service_account_kubeconfig(f"{RELEASE}-gateway"), gw_env, tmp_path / "gw.log"
        )
        gateway.start()  # ready = it listed tokens and applications and watched its one Secret
        certs = requests.get(gateway.url + "/cdn-cgi/access/certs", timeout=5).json()
        assert len(certs["keys"]) == 1
    finally:
        if gateway is not None:
            gateway.stop()
        proc.terminate()
        proc.wait(20)
    text = log.read_text()
    assert "forbidden" not in text.lower(), text[-3000:]  # kopf's APIForbiddenError, RBAC denials

    fresh.helm("uninstall", RELEASE, "-n", NS)
    assert "servicetokens.gatepass.dev" in fresh.kubectl("get", "crd", "-o", "name")  # kept
