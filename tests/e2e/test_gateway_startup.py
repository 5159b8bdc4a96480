"""The gateway opens its public port only after the first full sync: before that,
a request would get 404 for a host that exists or 401 for a token that exists."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

from kubernetes import client

from tests.support.gateway import GatewayProcess, deployment_env
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.waiting import wait_for

KEYS = "gatepass-signing-keys"


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def readyz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_public_port_opens_only_once_the_gateway_is_in_sync(
    api: client.ApiClient, gateway: GatewayProcess, running_operator: OperatorProcess, tmp_path: Path
) -> None:
    core = client.CoreV1Api(api)
    env = deployment_env(api, OPERATOR_NAMESPACE, "gatepass-gateway")
    # Keys that do not exist yet: the gateway cannot sign, so it is not in sync.
    env["GATEPASS_KEY_SECRET"] = "later-keys"
    late = GatewayProcess(Path(gateway.env["KUBECONFIG"]), env, tmp_path / "gateway.log")
    late.start(wait_ready=False)
    try:
        wait_for(lambda: listening(late.admin_port), timeout=30, what="the admin port")
        assert readyz(late.admin_port) == 503
        assert not listening(late.port), "public port open before the first sync"
        keys = core.read_namespaced_secret(KEYS, OPERATOR_NAMESPACE)
        core.create_namespaced_secret(
            OPERATOR_NAMESPACE,
            client.V1Secret(metadata=client.V1ObjectMeta(name="later-keys"), data=keys.data, type=keys.type),
        )
        wait_for(lambda: listening(late.port), timeout=30, what="the public port after the sync")
        assert readyz(late.admin_port) == 200
    finally:
        late.stop()
        core.delete_namespaced_secret("later-keys", OPERATOR_NAMESPACE)
