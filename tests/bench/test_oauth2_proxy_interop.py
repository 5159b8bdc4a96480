"""oauth2-proxy, the peer most clusters already run, accepts gatepass's JWTs as bearer tokens
with nothing but its documented flags: it finds gatepass's keys through the discovery
document and checks issuer, audience and signature like any OIDC verifier. What gatepass
mints for one application it refuses for another, and it refuses anything altered."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from bench.peers import Fleet, aud_of, fleet, jwt_from


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    # Two applications: the proxy is configured for the first one's audience.
    with fleet(tmp_path_factory.mktemp("oauth2-proxy"), tokens=3, rows=("oauth2-proxy",), apps=2) as fl:
        yield fl


def through_proxy(fl: Fleet, authorization: str | None) -> requests.Response:
    url = fl.targets["oauth2-proxy"].url
    headers = {"Authorization": authorization} if authorization else {}
    return requests.get(url, headers=headers, allow_redirects=False, timeout=10)


def test_a_gatepass_session_is_a_bearer_token_oauth2_proxy_accepts(peers: Fleet) -> None:
    client_id, secret = peers.credentials[1]  # any token, not only the one the bench uses
    jwt = jwt_from(peers.gateway_port, client_id, secret, app=0)
    resp = through_proxy(peers, f"Bearer {jwt}")
    assert resp.status_code == 200
    assert resp.text == "ok\n"  # the upstream's answer, proxied


def test_without_a_token_or_for_another_application_it_refuses(peers: Fleet) -> None:
    client_id, secret = peers.credentials[2]
    elsewhere = jwt_from(peers.gateway_port, client_id, secret, app=1)
    assert aud_of(elsewhere) != aud_of(jwt_from(peers.gateway_port, client_id, secret, app=0))
    for authorization in (None, f"Bearer {elsewhere}"):
        resp = through_proxy(peers, authorization)
        assert resp.status_code in (302, 401, 403), (authorization, resp.status_code)
        assert resp.text != "ok\n"


def _with_claims(jwt: str, **changes: object) -> str:
    head, payload, sig = jwt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw = json.dumps({**claims, **changes}, separators=(",", ":")).encode()
    return ".".join((head, base64.urlsafe_b64encode(raw).rstrip(b"=").decode(), sig))


def test_an_altered_jwt_is_refused(peers: Fleet) -> None:
    client_id, secret = peers.credentials[0]
    jwt = jwt_from(peers.gateway_port, client_id, secret, app=0)
    assert through_proxy(peers, f"Bearer {jwt}").status_code == 200
    forgeries = (_with_claims(jwt, common_name="someone-else.access"), _with_claims(jwt, exp=4_000_000_000))
    for forged in forgeries:
        assert through_proxy(peers, f"Bearer {forged}").status_code in (302, 401, 403)


def test_the_log_of_the_run_holds_no_secret(peers: Fleet, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The proxy and the gateway logged their requests; no Client Secret is in them."""
    logs = "".join(p.read_text(errors="replace") for p in Path(tmp_path_factory.getbasetemp()).rglob("*.log"))
    assert logs  # something was logged
    for _, secret in peers.credentials:
        assert secret not in logs
