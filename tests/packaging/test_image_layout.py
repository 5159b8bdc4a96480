"""The image's contents without a container engine: the Dockerfile's own stages, run on
this machine as `make image` runs them (its build arguments, the wheels of uv.lock that
tools/image.py collects, hash-checked, ``--no-index``); then both entry points for real."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from kubernetes import client
from packaging.markers import Marker

import gatepass
from tests.support import dockerfile
from tests.support.cluster import ROOT, ClusterInfo
from tests.support.gateway import deployment_env
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.tokens import Tokens
from tests.support.waiting import free_port, wait_for

sys.path.insert(0, str(ROOT / "tools"))

import image as image_tool

# Development tools (uv.lock's dev group) that must never reach the image.
DEV_ONLY = ("pytest", "mypy", "ruff", "hypothesis")
# What `python3 -m venv` puts into every virtualenv (3.11: pip and setuptools), lock or not.
VENV_SEEDS = {"pip", "setuptools"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dockerfile.Build:
    wheels = image_tool.ensure_wheels()  # from PyPI once per uv.lock, then offline
    base_env = {"PATH": os.environ["PATH"], "HOME": str(Path.home()), "LANG": "C.UTF-8"}
    return dockerfile.build(
        ROOT / "Dockerfile",
        ROOT,
        tmp_path_factory.mktemp("image"),
        image_tool.build_args(str(wheels)),
        base_env,
    )


@pytest.fixture(scope="module")
def clean_venv(built: dockerfile.Build) -> Path:
    """The directory of the image's ENTRYPOINT (its virtualenv's bin)."""
    return built.image.which(built.image.entrypoint[0]).parent


def locked_runtime() -> dict[str, str]:
    """What uv.lock pins for running gatepass (its dependencies, not the dev group)."""
    uv = ROOT / ".uv" / image_tool.uv_version() / "bin" / "uv"
    exported = subprocess.run(
        [str(uv), "export", "--frozen", "--no-dev", "--no-emit-project", "--format", "requirements-txt"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?:\s*;\s*([^\\]+))?", exported, re.M)
    assert pins, exported
    # (markers name the platform: this machine's CPython, as the image's)
    return {normalized(n): v for n, v, marker in pins if not marker or Marker(marker.strip()).evaluate()}


def test_the_image_holds_exactly_the_locked_runtime_dependencies(clean_venv: Path) -> None:
    listed = subprocess.run(
        [str(clean_venv / "pip"), "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {normalized(d["name"]): d["version"] for d in json.loads(listed)}
    assert installed.pop("gatepass") == gatepass.__version__
    for seed in VENV_SEEDS:
        installed.pop(seed, None)
    assert installed == locked_runtime()
    for dev_only in DEV_ONLY:
        assert dev_only not in installed


def test_the_image_carries_the_crds_and_the_kubectl_plugin(built: dockerfile.Build, clean_venv: Path) -> None:
    assert built.image.entrypoint == ["gatepass"]
    out = subprocess.run([str(clean_venv / "gatepass"), "crds"], capture_output=True, text=True, check=True)
    for crd in sorted((ROOT / "crds").glob("*.yaml")):
        assert crd.read_text() in out.stdout
    plugin = subprocess.run([str(clean_venv / "kubectl-gatepass"), "--help"], capture_output=True, text=True)
    assert plugin.returncode == 0
    assert "rotate" in plugin.stdout
    # Only the image's user account is left to the container build.
    assert [c.split()[0] for c in built.image.skipped] == ["useradd"]


@pytest.fixture
def paused_session_operator(operator: OperatorProcess) -> Iterator[None]:
    """Only one operator at a time: the session's steps aside for the wheel's."""
    operator.stop()
    yield
    operator.proc = None
    operator.start()


def test_both_entry_points_run_from_the_clean_install(
    clean_venv: Path,
    cluster: ClusterInfo,
    api: client.ApiClient,
    namespace: str,
    paused_session_operator: None,
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
    env.update(
        KUBECONFIG=str(cluster.kubeconfig), GATEPASS_NAMESPACE=OPERATOR_NAMESPACE, GATEPASS_STANDALONE="true"
    )
    op_env = {**env, "GATEPASS_METRICS_PORT": str(free_port()), "GATEPASS_HEALTH_PORT": str(free_port())}
    logs = tmp_path / "operator.log"
    with logs.open("wb") as log:
        op = subprocess.Popen([str(clean_venv / "gatepass"), "operator"], env=op_env, stdout=log, stderr=log)
    gw = None
    try:
        tokens = Tokens(api, namespace)
        tokens.create("from-wheel")
        tokens.wait_ready("from-wheel", timeout=30)

        gw_env = {**env, **deployment_env(api, OPERATOR_NAMESPACE, "gatepass-gateway")}
        port, admin = free_port(), free_port()
        gw_env.update(
            GATEPASS_PORT=str(port), GATEPASS_ADMIN_PORT=str(admin), GATEPASS_BIND_ADDRESS="127.0.0.1"
        )
        with (tmp_path / "gateway.log").open("wb") as log:
            gw = subprocess.Popen(
                [str(clean_venv / "gatepass"), "gateway"], env=gw_env, stdout=log, stderr=log
            )

        def ready() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{admin}/readyz", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(ready, timeout=30, what="the wheel's gateway ready")
        certs = requests.get(f"http://127.0.0.1:{port}/cdn-cgi/access/certs", timeout=5).json()
        assert certs["keys"]
    finally:
        for proc in (gw, op):
            if proc is not None:
                proc.terminate()
                proc.wait(20)
    assert "Traceback" not in logs.read_text()
