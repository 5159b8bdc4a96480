"""Traefik as the local node's ingress, on request: its CRD provider and its Gateway API
provider, one pod from the image traefikbuild.py makes (nothing is pulled).

Standard library only. ``make cluster-up INGRESS=traefik`` runs ``up``; tests call
:func:`install` with their own kubectl.

    python tools/ingress/traefik.py build     # print the build directory
    python tools/ingress/traefik.py up DIR    # into the cluster `make cluster-up` runs in DIR

What it installs: Traefik's CRDs (traefik.io) and the Gateway API's standard channel;
in namespace ``traefik`` the Deployment, a ClusterIP Service ``traefik`` (port 80), and
the GatewayClass + Gateway ``traefik`` (listener ``web``, routes from every namespace).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "localcluster"))

import traefikbuild  # noqa: E402
from traefikbuild import IMAGE, TRAEFIK_VERSION  # noqa: E402

from clusterbuild import log  # noqa: E402

NS = "traefik"
NAME = "traefik"
SERVICE_URL = f"http://{NAME}.{NS}.svc.cluster.local"
CONTROLLER = "traefik.io/gateway-controller"
WEB_PORT = 8000

# kubectl with its arguments, stdin -> stdout; raises on failure.
Kubectl = Callable[..., str]

# The ClusterRoles of the module's RBAC files: its CRD provider's, its Gateway API provider's.
ROLES = ("traefik-ingress-controller", "gateway-role")


def manifests() -> list[dict[str, Any]]:
    """Everything but the CRDs: namespace, rights, the Deployment, Service, Gateway."""
    labels = {"app.kubernetes.io/name": NAME}
    args = [
        f"--entryPoints.web.address=:{WEB_PORT}",
        "--entryPoints.traefik.address=:8080",  # ping, for the probes
        "--ping=true",
        "--providers.kubernetescrd=true",
        "--providers.kubernetescrd.safeNaming=true",  # as Traefik advises new setups
        "--providers.kubernetesgateway=true",
        "--log.level=INFO",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
    ]
    probe = {"httpGet": {"path": "/ping", "port": 8080}, "periodSeconds": 1}
    container = {
        "name": NAME,
        "image": IMAGE,
        "imagePullPolicy": "Never",  # loaded into the node, never pulled
        "args": args,
        "ports": [{"name": "web", "containerPort": WEB_PORT}],
        "readinessProbe": probe,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": NAME, "namespace": NS}},
        *(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"{NAME}-{role}"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NS}],
            }
            for role in ROLES
        ),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": NAME, "namespace": NS, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": NAME,
                        "containers": [container],
                        "terminationGracePeriodSeconds": 5,
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": NAME, "namespace": NS},
            "spec": {"selector": labels, "ports": [{"name": "web", "port": 80, "targetPort": WEB_PORT}]},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": NAME},
            "spec": {"controllerName": CONTROLLER},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": NAME, "namespace": NS},
            "spec": {
                "gatewayClassName": NAME,
                "listeners": [
                    {
                        "name": "web",
                        "protocol": "HTTP",
                        "port": WEB_PORT,
                        "allowedRoutes": {"namespaces": {"from": "All"}},
                    }
                ],
            },
        },
    ]


def cluster_roles(build: Path) -> str:
    """The ClusterRoles of the module's RBAC files, without their bindings (to example
    ServiceAccounts in ``default``): :func:`manifests` binds them to Traefik's own."""
    docs = (
        doc
        for f in ("traefik-rbac.yaml", "gateway-rbac.yaml")
        for doc in (build / "crds" / f).read_text().split("\n---")
    )
    return "\n---\n".join(d for d in docs if "kind: ClusterRole\n" in d)


def install(kubectl: Kubectl, build: Path, timeout: int = 120) -> None:
    """Install into a cluster whose node already holds the image (see :func:`up`)."""
    # Server-side: the Gateway API's CRDs outgrow the last-applied annotation.
    for f in ("traefik-crds.yaml", "gateway-api-standard.yaml"):
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(build / "crds" / f))
    kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    kubectl("apply", "-f", "-", stdin=cluster_roles(build))
    kubectl("apply", "-f", "-", stdin="\n".join(json.dumps(d) for d in manifests()))
    kubectl("rollout", "status", f"deploy/{NAME}", "-n", NS, f"--timeout={timeout}s")
    kubectl("wait", "--for=condition=Programmed", f"gateway/{NAME}", "-n", NS, f"--timeout={timeout}s")


def up(workdir: Path) -> None:
    """``make cluster-up INGRESS=traefik``: into the cluster running in ``workdir``."""
    import localcluster

    state = json.loads((workdir / "state.json").read_text())
    record = localcluster.NodeRecord.load(state["node"]) if state.get("node") else None
    if record is None:
        raise SystemExit(f"the cluster in {workdir} has no running node (GATEPASS_NODE=0?)")
    build = traefikbuild.build()
    node = localcluster.LocalNode(Path(), Path(record.datadir), record)
    node.import_image(build / "image.tar", IMAGE)
    bindir = localcluster.build()
    kubeconfig = workdir / "kubeconfig"

    def kubectl(*args: str, stdin: str | None = None) -> str:
        cmd = [str(bindir / "localcluster"), "kubectl", f"--kubeconfig={kubeconfig}", *args]
        out = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
        if out.returncode:
            raise SystemExit(f"kubectl {' '.join(args)}: {out.stderr}")
        return out.stdout

    install(kubectl, build)
    log(f"Traefik {TRAEFIK_VERSION} serves {SERVICE_URL} (IngressRoute, HTTPRoute)")


def main(argv: list[str]) -> int:
    if argv[:1] == ["build"]:
        print(traefikbuild.build())
        return 0
    if argv[:1] == ["up"] and len(argv) == 2:
        up(Path(argv[1]).resolve())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
