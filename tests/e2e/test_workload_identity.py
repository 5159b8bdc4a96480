"""Secretless callers against the real API server: ServiceAccount tokens from its
TokenRequest API (what the kubelet asks for a projected volume), verified by the real
gateway process with the keys it fetched from /openid/v1/jwks, bound to a real Pod
object (Pending: this cluster has no node; tests/e2e/test_pods.py runs one for real)."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest
import requests
from kubernetes import client

from tests.support.apps import Apps
from tests.support.gateway import GatewayProcess, Upstream
from tests.support.operator import ISSUER, OperatorProcess
from tests.support.waiting import wait_for

ACCOUNT = "reporter"


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def make_pod(core: client.CoreV1Api, namespace: str, name: str) -> client.V1Pod:
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            service_account_name=ACCOUNT,
            automount_service_account_token=False,
            containers=[client.V1Container(name="c", image="never-pulled.invalid/none")],
        ),
    )
    return core.create_namespaced_pod(namespace, pod)


def request_token(
    core: client.CoreV1Api, namespace: str, audience: str, pod: client.V1Pod | None = None
) -> str:
    """What the kubelet does for a projected token volume (or, pod=None, `kubectl create token`)."""
    bound = None
    if pod is not None:
        bound = client.V1BoundObjectReference(
            kind="Pod", api_version="v1", name=pod.metadata.name, uid=pod.metadata.uid
        )
    spec = client.V1TokenRequestSpec(audiences=[audience], expiration_seconds=600, bound_object_ref=bound)
    answer = core.create_namespaced_service_account_token(
        ACCOUNT, namespace, client.AuthenticationV1TokenRequest(spec=spec)
    )
    return str(answer.status.token)


def test_a_pod_is_admitted_by_its_service_account_token_until_its_pod_is_gone(
    api: client.ApiClient,
    core: client.CoreV1Api,
    namespace: str,
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
    http: requests.Session,
) -> None:
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata={"name": ACCOUNT}))
    host = f"pods.{namespace}.test"
    Apps(api, namespace).create(
        "pods",
        {
            "hosts": [host],
            "upstream": upstream.url + "/app",
            "policies": [{"decision": "serviceAuth", "include": [{"serviceAccount": {"name": ACCOUNT}}]}],
        },
    )
    aud = Apps(api, namespace).wait_aud("pods")
    pod = make_pod(core, namespace, "reporter-1")
    for_pods = f"{ISSUER}/{namespace}/pods"  # the audience that names this application
    token = request_token(core, namespace, for_pods, pod)

    def get(bearer: str) -> requests.Response:
        headers = {"Host": host, "Authorization": f"Bearer {bearer}"}
        return http.get(gateway.url + "/q", headers=headers, timeout=10)

    # The gateway learns of the app, the account and the pod by watch.
    wait_for(lambda: get(token).status_code == 200, timeout=10, what="the pod admitted")
    seen = upstream.seen[-1]["headers"]
    assert "Authorization" not in seen
    assertion = seen["Cf-Access-Jwt-Assertion"]
    key = jwt.PyJWKClient(gateway.url + "/cdn-cgi/access/certs").get_signing_key_from_jwt(assertion)
    claims = jwt.decode(assertion, key.key, algorithms=["RS256"], audience=aud, issuer=ISSUER)
    assert claims["sub"] == claims["common_name"] == f"system:serviceaccount:{namespace}:{ACCOUNT}"
    assert claims["kubernetes.io"]["pod"] == {"name": "reporter-1"}

    # The pod's everyday API token (audience: the API server) is never accepted, nor a token
    # for another application, nor one for the gateway as a whole (what every application took).
    for audience in ("https://kubernetes.default.svc.cluster.local", f"{ISSUER}/{namespace}/other", ISSUER):
        assert get(request_token(core, namespace, audience, pod)).json() == {"error": "wrong_audience"}
    assert get(request_token(core, namespace, f"{ISSUER}/pods", pod)).status_code == 200  # the short form

    # Delete the pod: its token stops working (by watch, no API call per request).
    core.delete_namespaced_pod("reporter-1", namespace, grace_period_seconds=0)
    wait_for(lambda: get(token).status_code == 401, timeout=10, what="the token refused once its pod is gone")
    assert get(token).json() == {"error": "pod_gone"}

    # An unbound token (kubectl create token) lives with its account: delete and recreate it.
    unbound = request_token(core, namespace, for_pods)
    assert get(unbound).status_code == 200
    core.delete_namespaced_service_account(ACCOUNT, namespace)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata={"name": ACCOUNT}))
    wait_for(lambda: get(unbound).status_code == 401, timeout=10, what="the old account's token refused")
    assert get(unbound).json() == {"error": "service_account_gone"}
    assert get(request_token(core, namespace, for_pods)).status_code == 200  # the new account's works
