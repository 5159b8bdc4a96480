"""Which Kubernetes cluster the tests get (``GATEPASS_TEST_CLUSTER``).

* ``local`` (default): the control plane from tools/localcluster, started once
  per test session and stopped after it, with a node that runs real pods
  (``GATEPASS_NODE=0``: the control plane alone);
* ``kind``: pytest-kind, for machines with a Docker engine;
* ``kubeconfig``: an existing cluster from ``KUBECONFIG``, used only when
  ``GATEPASS_TEST_CONTEXT`` names its context, so nobody runs the suite against
  production by accident.

The tests do not care which: they get a kubeconfig path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "localcluster"))

import localcluster  # noqa: E402

__all__ = ["ClusterInfo", "localcluster", "provide_cluster"]

# CRDs known before the garbage collector starts (see LocalCluster.start).
PREINSTALL = (ROOT / "crds", ROOT / "tests" / "e2e" / "testdata")


@dataclass(frozen=True)
class ClusterInfo:
    kubeconfig: Path
    bindir: Path | None  # kubectl (as localcluster) and helm, when built here
    local: localcluster.LocalCluster | None = None

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        exe = [str(self.bindir / "localcluster"), "kubectl"] if self.bindir else ["kubectl"]
        return subprocess.run(
            [*exe, f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=check,
            input=input,
            timeout=120,
        )

    @property
    def helm(self) -> str:
        if self.bindir is not None:
            return str(self.bindir / "helm")
        found = shutil.which("helm")
        if found is None:
            pytest.skip("helm is not on PATH for this cluster backend")
        return found


@contextmanager
def provide_cluster() -> Iterator[ClusterInfo]:
    backend = os.environ.get("GATEPASS_TEST_CLUSTER", "local")
    if backend == "local":
        bindir = localcluster.build()
        with tempfile.TemporaryDirectory(prefix="gatepass-cluster-") as tmp:
            cluster = localcluster.LocalCluster(
                bindir=bindir, datadir=Path(tmp) / "data", node=localcluster.node_wanted()
            )
            try:
                took = cluster.start(preinstall=PREINSTALL)
                what = "control plane and node" if cluster.local_node else "control plane"
                print(f"\n[localcluster] {what} ready in {took:.1f}s at {cluster.server}", file=sys.stderr)
                yield ClusterInfo(kubeconfig=cluster.kubeconfig, bindir=bindir, local=cluster)
            finally:
                cluster.stop()
    elif backend == "kind":
        if (
            shutil.which("docker") is None
            or subprocess.run(["docker", "info"], capture_output=True).returncode
        ):
            pytest.skip("GATEPASS_TEST_CLUSTER=kind needs a running Docker engine")
        try:
            from pytest_kind import KindCluster  # type: ignore[import-untyped]
        except ImportError:
            pytest.skip("GATEPASS_TEST_CLUSTER=kind needs pytest-kind (in uv.lock's dev group)")
        kind = KindCluster("gatepass-tests")
        kind.create()
        # `make kind-e2e` built the image with `docker build`; the node cannot pull it.
        if image := os.environ.get("GATEPASS_TEST_IMAGE"):
            kind.load_docker_image(image)  # `kind load docker-image`
        try:
            yield ClusterInfo(kubeconfig=Path(kind.kubeconfig_path), bindir=None)
        finally:
            kind.delete()
    elif backend == "kubeconfig":
        context = os.environ.get("GATEPASS_TEST_CONTEXT")
        if not context:
            pytest.exit("GATEPASS_TEST_CLUSTER=kubeconfig also needs GATEPASS_TEST_CONTEXT=<context name>", 2)
        # Flatten the one named context into a file of its own, so every client
        # the tests start (Python, kubectl, the operator) talks to it and only it.
        with tempfile.TemporaryDirectory(prefix="gatepass-kubeconfig-") as tmp:
            flat = subprocess.run(
                ["kubectl", "config", "view", "--raw", "--minify", "--flatten", f"--context={context}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            path = Path(tmp) / "kubeconfig"
            path.write_text(flat)
            yield ClusterInfo(kubeconfig=path, bindir=None)
    else:
        pytest.exit(f"unknown GATEPASS_TEST_CLUSTER={backend!r} (local, kind, kubeconfig)", 2)
