"""Signing-key rotation: JWTs minted before a rotation still verify after it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest
import requests
from kubernetes import client

from tests.support.apps import ANY_TOKEN, Apps
from tests.support.gateway import GatewayProcess
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.tokens import Tokens
from tests.support.waiting import wait_for


@pytest.fixture
def fast_rotating_operator(running_operator: OperatorProcess) -> Iterator[OperatorProcess]:
    yield running_operator
    running_operator.stop()  # back to the normal six-week rotation for later tests
    running_operator.start()


def kids(gateway: GatewayProcess) -> list[str]:
    doc = requests.get(gateway.url + "/cdn-cgi/access/certs", timeout=5).json()
    return [k["kid"] for k in doc["keys"]]


def test_jwts_minted_before_rotation_still_verify(
    api: client.ApiClient, namespace: str, gateway: GatewayProcess, fast_rotating_operator: OperatorProcess
) -> None:
    tokens, apps = Tokens(api, namespace), Apps(api, namespace)
    host = f"keys.{namespace}.test"
    apps.create("keys", {"hosts": [host], "upstream": "http://127.0.0.1:1", "policies": ANY_TOKEN})
    apps.wait_aud("keys")
    tokens.create("k")
    tokens.wait_ready("k")
    creds = tokens.creds("k")
    headers = {
        "Host": host,
        "CF-Access-Client-Id": creds.client_id,
        "CF-Access-Client-Secret": creds.client_secret,
    }
    # 502 (the origin is down on purpose) means the gateway authenticated and minted.
    first = wait_for(
        lambda: (
            [r] if (r := requests.get(gateway.url, headers=headers, timeout=5)).status_code == 502 else None
        ),
        timeout=5,
    )[0]
    old_jwt = first.cookies["CF_Authorization"]
    old_kid = jwt.get_unverified_header(old_jwt)["kid"]
    assert kids(gateway)[0] == old_kid

    fast_rotating_operator.stop()
    fast_rotating_operator.start(GATEPASS_KEY_ROTATION="2s")
    wait_for(lambda: kids(gateway)[0] != old_kid, timeout=10, what="a new signing key at the gateway")
    assert old_kid in kids(gateway)  # the previous key still verifies

    secret = client.CoreV1Api(api).read_namespaced_secret("gatepass-signing-keys", OPERATOR_NAMESPACE)
    assert len([k for k in secret.data if k.endswith(".key")]) >= 2

    cookie = {"Host": host, "Cookie": f"CF_Authorization={old_jwt}"}
    assert requests.get(gateway.url, headers=cookie, timeout=5).status_code == 502  # verified, then proxied
    new_jwt = requests.get(gateway.url, headers=headers, timeout=5).cookies["CF_Authorization"]
    assert jwt.get_unverified_header(new_jwt)["kid"] == kids(gateway)[0] != old_kid


def test_a_new_signing_key_on_request(
    api: client.ApiClient, gateway: GatewayProcess, running_operator: OperatorProcess
) -> None:
    """kubectl gatepass rotate-signing-key: the annotation on the key Secret, acted on once."""
    core = client.CoreV1Api(api)
    before = kids(gateway)

    def ask(value: str, **more: str) -> None:
        note = {"metadata": {"annotations": {"gatepass.dev/rotate-signing-key": value, **more}}}
        core.patch_namespaced_secret("gatepass-signing-keys", OPERATOR_NAMESPACE, note)

    ask(f"now-{before[0][:8]}")
    wait_for(lambda: kids(gateway)[0] not in before, timeout=10, what="a new signing key at the gateway")
    after = kids(gateway)
    assert before[0] in after  # the replaced key keeps verifying
    secret = core.read_namespaced_secret("gatepass-signing-keys", OPERATOR_NAMESPACE)
    assert secret.metadata.annotations["gatepass.dev/signing-key-rotated-for"] == f"now-{before[0][:8]}"
    assert secret.metadata.labels["app.kubernetes.io/managed-by"] == "gatepass"
    # The Secret changes again (so the operator sees it) with the same value: nothing asked.
    ask(f"now-{before[0][:8]}", **{"example.com/touched": "1"})
    time.sleep(2)
    assert kids(gateway) == after
