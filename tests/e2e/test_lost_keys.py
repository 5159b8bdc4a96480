"""The signing-key Secret (JWT keys and the status-seal key) deleted by accident: an apply
--prune, a script, a careless `kubectl delete`. It must not become a cluster-wide reissue:
the operator's finalizer keeps the keys until it writes the same ones back, the gateway
keeps serving with the keys it holds meanwhile, and a tenant racing the accident gains
nothing. Replacing the keys is a deliberate command of its own."""

from __future__ import annotations

import pytest
import requests
from kubernetes import client

from gatepass.plugin import main as plugin
from tests.support.apps import ANY_TOKEN, Apps
from tests.support.cluster import ClusterInfo
from tests.support.gateway import GatewayProcess, Upstream
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.tokens import Creds, Tokens
from tests.support.waiting import wait_for

KEYS = "gatepass-signing-keys"
SEAL = "status-seal.hmac"
CREDENTIAL_EVENTS = {"UntrustedStatus", "CredentialsReissued"}


class Victim:
    def __init__(
        self, api: client.ApiClient, namespace: str, gateway: GatewayProcess, upstream: Upstream
    ) -> None:
        self.tokens, self.apps, self.gateway = Tokens(api, namespace), Apps(api, namespace), gateway
        self.host = f"v.{namespace}.test"
        self.apps.create(
            "app", {"hosts": [self.host], "upstream": upstream.url + "/v", "policies": ANY_TOKEN}
        )
        self.tokens.create("ci")
        self.tokens.wait_ready("ci")
        self.creds = self.tokens.creds("ci")
        self.aud = self.apps.wait_aud("app")
        self.record = self.tokens.status("ci")
        wait_for(lambda: self.call() == 200, timeout=15, what="the victim served")

    def call(self, creds: Creds | None = None) -> int:
        c = creds or self.creds
        headers = {
            "Host": self.host,
            "CF-Access-Client-Id": c.client_id,
            "CF-Access-Client-Secret": c.client_secret,
        }
        return requests.get(self.gateway.url + "/x", headers=headers, timeout=10).status_code

    def untouched(self) -> None:
        status = self.tokens.status("ci")
        assert (status["clientId"], status["seal"]) == (self.record["clientId"], self.record["seal"])
        assert not CREDENTIAL_EVENTS & set(self.tokens.reasons("ci"))
        assert self.apps.status("app")["aud"] == self.aud
        assert self.call() == 200


def key_secret(core: client.CoreV1Api) -> client.V1Secret:
    return core.read_namespaced_secret(KEYS, OPERATOR_NAMESPACE)


def restored(core: client.CoreV1Api, before: client.V1Secret) -> client.V1Secret | None:
    """The Secret written back: another object (uid), the same keys, held again."""
    try:
        now = key_secret(core)
    except client.ApiException:
        return None
    if now.metadata.uid == before.metadata.uid or now.metadata.deletion_timestamp:
        return None
    return now


def test_a_deleted_key_secret_comes_back_with_the_same_keys(
    api: client.ApiClient,
    namespace: str,
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    victim = Victim(api, namespace, gateway, upstream)
    core = client.CoreV1Api(api)
    before = key_secret(core)
    assert "gatepass.dev/keep-keys" in before.metadata.finalizers
    core.delete_namespaced_secret(KEYS, OPERATOR_NAMESPACE)
    answers = []
    back = None
    for _ in range(100):  # requests all along, until the Secret is back
        answers.append(victim.call())
        back = restored(core, before)
        if back is not None:
            break
    assert back is not None, "the signing-key Secret was not written back"
    assert set(answers) == {200}
    assert back.data == before.data  # the same signing keys and the same seal key
    assert "gatepass.dev/keep-keys" in back.metadata.finalizers
    victim.untouched()
    assert "was deleted: restored with the same keys" in running_operator.log_text()


def test_with_the_operator_down_the_keys_wait_and_a_tenant_racing_the_accident_gains_nothing(
    api: client.ApiClient,
    namespace: str,
    intruder: tuple[str, client.ApiClient],
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> None:
    victim = Victim(api, namespace, gateway, upstream)
    ns, tenant = intruder
    mine, admin_view = Tokens(tenant, ns), Tokens(api, ns)
    mine.create("mine")
    mine.wait_ready("mine")
    own = admin_view.creds("mine")
    core = client.CoreV1Api(api)
    before = key_secret(core)
    running_operator.stop()
    core.delete_namespaced_secret(KEYS, OPERATOR_NAMESPACE)
    held = key_secret(core)
    assert held.metadata.deletion_timestamp  # the finalizer keeps it, keys and all
    assert held.data == before.data
    # The tenant hopes a recovery will vouch for a record naming the victim's Client ID.
    mine.patch_status("mine", {"clientId": victim.creds.client_id, "secretHash": own.hash})
    assert victim.call() == 200  # the gateway serves with the keys it holds
    running_operator.start()
    back = wait_for(lambda: restored(core, before), timeout=30, what="the Secret written back")
    assert back.data == before.data
    victim.untouched()
    wait_for(lambda: "UntrustedStatus" in admin_view.reasons("mine"), timeout=30, what="the edit distrusted")
    after = wait_for(
        lambda: (s := mine.wait_ready("mine")) and s["clientId"] != victim.creds.client_id and s,
        timeout=30,
        what="new credentials for the tenant, not the victim's",
    )
    assert after["clientId"] != own.client_id
    assert victim.call(Creds(victim.creds.client_id, own.client_secret)) == 401
    victim.untouched()


def test_replacing_the_keys_is_a_deliberate_command(
    api: client.ApiClient,
    cluster: ClusterInfo,
    namespace: str,
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A leaked key: `kubectl gatepass replace-keys --yes` drops every key now, so every token
    is reissued and every application gets a new aud (what deleting the Secret used to do)."""
    victim = Victim(api, namespace, gateway, upstream)
    core = client.CoreV1Api(api)
    before = key_secret(core)
    base = ["--kubeconfig", str(cluster.kubeconfig), "replace-keys"]
    assert plugin(base) == 1  # without --yes: refused, nothing asked
    assert key_secret(core).metadata.annotations == before.metadata.annotations
    assert plugin([*base, "--yes"]) == 0
    assert "every token is reissued" in capsys.readouterr().out
    wait_for(lambda: key_secret(core).data[SEAL] != before.data[SEAL], timeout=30, what="a new seal key")
    now = key_secret(core).data
    assert not {k for k in before.data if k.endswith(".key")} & set(now)  # every old signing key gone
    wait_for(lambda: "UntrustedStatus" in victim.tokens.reasons("ci"), timeout=30, what="the token reissued")
    fresh = wait_for(
        lambda: (s := victim.tokens.wait_ready("ci")) and s["clientId"] != victim.record["clientId"] and s,
        timeout=30,
        what="new credentials",
    )
    assert fresh["seal"] != victim.record["seal"]
    wait_for(lambda: victim.apps.status("app")["aud"] != victim.aud, timeout=30, what="a new aud")
    assert victim.call() == 401  # the old secret is gone with its record
    wait_for(
        lambda: victim.call(victim.tokens.creds("ci")) == 200, timeout=15, what="the new credentials served"
    )
