"""The image's contents without Docker: the wheel in a clean virtualenv, as the
Dockerfile's final stage installs it, runs both entry points for real."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from kubernetes import client

from tests.support.cluster import ROOT, ClusterInfo
from tests.support.gateway import deployment_env
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.tokens import Tokens
from tests.support.waiting import free_port, wait_for


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel like the Dockerfile's build stage, install it into an empty venv."""
    tmp = tmp_path_factory.mktemp("image")
    wheels = tmp / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("gatepass-*.whl")
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=True)
    subprocess.run(
        [str(env_dir / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return env_dir / "bin"


def test_wheel_carries_the_crds_and_no_dev_tools(clean_venv: Path) -> None:
    out = subprocess.run([str(clean_venv / "gatepass"), "crds"], capture_output=True, text=True, check=True)
    for crd in sorted((ROOT / "crds").glob("*.yaml")):
        assert crd.read_text() in out.stdout
    pip_list = subprocess.run(
        [str(clean_venv / "pip"), "list"], capture_output=True, text=True, check=True
    ).stdout
    for dev_only in ("pytest", "mypy", "ruff", "hypothesis"):
        assert dev_only not in pip_list.lower()
    plugin = subprocess.run([str(clean_venv / "kubectl-gatepass"), "--help"], capture_output=True, text=True)
    assert plugin.returncode == 0
    assert "rotate" in plugin.stdout


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
