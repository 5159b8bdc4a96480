"""Secretless callers through the real gateway: a pod's projected ServiceAccount token
in, the application's JWT out, over HTTP on loopback."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
import pytest_asyncio

from gatepass.gateway.audit import LOGGER
from gatepass.gateway.discovery import Discovery
from gatepass.gateway.workload import Pod, WorkloadTokens
from gatepass.trust.signing import SigningKey
from tests.gateway.conftest import ISSUER, NS, World
from tests.gateway.test_flows import verify_with_jwks
from tests.support.serviceaccounts import Issuer

pytestmark = pytest.mark.asyncio

HOST = "reports.example.com"
REPORTER: dict[str, Any] = {"serviceAccount": {"name": "reporter"}}
POLICIES = [{"name": "pods", "decision": "serviceAuth", "include": [REPORTER]}]
FOR_REPORTS = f"{ISSUER}/{NS}/reports"  # the audience of a token for the application "reports"


@pytest.fixture(scope="module")
def kube() -> Issuer:
    i = Issuer()
    i.add_rsa("sa-key-1")
    return i


class Published:
    """What /openid/v1/jwks would serve; the gateway fetches it through Discovery."""

    def __init__(self, kube: Issuer) -> None:
        self.kube = kube
        self.fetches = 0

    async def __call__(self, path: str) -> Any:
        self.fetches += 1
        return {"issuer": self.kube.issuer} if path.endswith("openid-configuration") else self.kube.jwks()


@pytest_asyncio.fixture
async def world(signing_keys: list[SigningKey], kube: Issuer) -> AsyncIterator[World]:
    workloads = WorkloadTokens((ISSUER,))
    published = Published(kube)
    discovery = Discovery(published, workloads, min_gap=0)
    await discovery.load()
    workloads.set_accounts({(NS, "reporter"): "sa-uid-1", (NS, "intruder"): "sa-uid-9"})
    workloads.set_pods({"pod-uid-1": Pod(NS), "pod-uid-9": Pod(NS)})
    w = World(signing_keys, workloads=workloads, refresh_keys=discovery.refresh)
    w.published = published  # type: ignore[attr-defined]
    await w.start()
    yield w
    await w.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_pod_reaches_the_origin_with_its_service_account_token_and_no_secret(
    world: World, kube: Issuer
) -> None:
    aud = world.app("reports", [HOST], POLICIES)
    status, body, resp = await world.get(HOST, "/q", headers=bearer(kube.token(aud=FOR_REPORTS)))
    assert status == 200, body
    assert "Set-Cookie" not in resp.headers  # the projected token is the credential, each time
    seen = world.seen[-1]["headers"]
    assert "Authorization" not in seen  # never passed on: the origin could replay it
    claims = await verify_with_jwks(world, seen["Cf-Access-Jwt-Assertion"], aud)
    assert claims["common_name"] == claims["sub"] == "system:serviceaccount:team-a:reporter"
    assert claims["kubernetes.io"] == {
        "namespace": NS,
        "serviceaccount": {"name": "reporter"},
        "pod": {"name": "reporter-7d9"},
    }
    assert claims["exp"] - claims["iat"] <= 24 * 3600


async def test_the_token_works_in_cf_access_token_too_and_in_strict_mode(world: World, kube: Issuer) -> None:
    world.app("reports", [HOST], POLICIES, strictServiceTokenAuth=True)
    status, body, _ = await world.get(HOST, headers={"cf-access-token": kube.token(aud=FOR_REPORTS)})
    assert status == 200, body


async def test_an_account_the_policies_do_not_name_is_forbidden(world: World, kube: Issuer) -> None:
    world.app("reports", [HOST], POLICIES)
    intruder = kube.token(aud=FOR_REPORTS, account="intruder", account_uid="sa-uid-9", pod=("x", "pod-uid-9"))
    status, body, _ = await world.get(HOST, headers=bearer(intruder))
    assert (status, body) == (403, {"error": "not_allowed"})
    # A token rule of the same name admits no account, and the reverse.
    world.app(
        "reports", [HOST], [{"decision": "serviceAuth", "include": [{"serviceToken": {"name": "reporter"}}]}]
    )
    status, _, _ = await world.get(HOST, headers=bearer(kube.token(aud=FOR_REPORTS)))
    assert status == 401  # the application names no account: the bearer is not read (nor forwarded)


async def test_where_no_policy_names_accounts_authorization_is_the_origins(
    world: World, kube: Issuer
) -> None:
    """The origin's own bearer tokens pass; a ServiceAccount token never does, whatever its
    audience: the origin could replay it wherever that account is admitted."""
    world.app("open", [HOST], [{"decision": "bypass", "include": [{"everyone": {}}]}])
    own = jwt.encode({"iss": "https://idp.example", "sub": "alice"}, "k" * 32, algorithm="HS256")
    for origins in (f"Bearer {own}", "Bearer opaque-origin-token"):
        assert (await world.get(HOST, headers={"Authorization": origins}))[0] == 200
        assert world.seen[-1]["headers"]["Authorization"] == origins
    for token in (
        kube.token(aud=FOR_REPORTS),
        kube.token(aud=FOR_REPORTS),
        kube.token(aud="https://kubernetes"),
    ):
        assert (await world.get(HOST, headers=bearer(token)))[0] == 200
        assert "Authorization" not in world.seen[-1]["headers"]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ({"aud": "https://kubernetes.default.svc.cluster.local"}, "wrong_audience"),  # its API token
        ({"aud": ISSUER}, "wrong_audience"),  # the gateway's bare audience: no application's
        ({"aud": FOR_REPORTS, "pod": ("gone", "pod-uid-404")}, "pod_gone"),
        ({"aud": FOR_REPORTS, "account_uid": "sa-uid-old"}, "service_account_gone"),
    ],
)
async def test_a_token_that_does_not_hold_is_refused(
    world: World, kube: Issuer, token: dict[str, Any], reason: str
) -> None:
    world.app("reports", [HOST], POLICIES)
    status, body, _ = await world.get(HOST, headers=bearer(kube.token(**token)))
    assert (status, body) == (401, {"error": reason})


async def test_a_token_and_client_credentials_at_once_are_refused(world: World, kube: Issuer) -> None:
    world.app("reports", [HOST], POLICIES)
    tok = world.token("ci-bot")
    status, body, _ = await world.get(HOST, headers={**tok.headers, **bearer(kube.token(aud=FOR_REPORTS))})
    assert (status, body) == (401, {"error": "duplicate_credentials"})
    both = {
        **bearer(kube.token(aud=FOR_REPORTS)),
        "cf-access-token": kube.token(aud=FOR_REPORTS, jti="other"),
    }
    status, body, _ = await world.get(HOST, headers=both)
    assert (status, body) == (401, {"error": "duplicate_credentials"})


async def test_a_session_of_ours_in_cf_access_token_is_still_a_session(world: World) -> None:
    policies = [*POLICIES, {"decision": "serviceAuth", "include": [{"serviceToken": {"name": "ci-bot"}}]}]
    world.app("reports", [HOST], policies)
    tok = world.token("ci-bot")
    status, _, resp = await world.get(HOST, headers=tok.headers)
    assert status == 200
    session = resp.cookies["CF_Authorization"].value
    status, body, _ = await world.get(HOST, headers={"cf-access-token": session})
    assert status == 200, body


async def test_a_new_issuer_key_is_fetched_when_a_token_names_it(world: World, kube: Issuer) -> None:
    world.app("reports", [HOST], POLICIES)
    published = world.published  # type: ignore[attr-defined]
    before = published.fetches
    kube.add_rsa("sa-key-2")  # the API server's key rotated
    try:
        status, body, _ = await world.get(HOST, headers=bearer(kube.token(aud=FOR_REPORTS, kid="sa-key-2")))
        assert status == 200, body
        assert published.fetches == before + 2  # the discovery document and the keys, once
        stranger = Issuer()
        stranger.add_rsa("made-up")
        status, body, _ = await world.get(HOST, headers=bearer(stranger.token(aud=FOR_REPORTS)))
        assert (status, body) == (401, {"error": "unknown_service_account_key"})
    finally:
        del kube.keys["sa-key-2"]


async def test_refetching_keys_is_throttled(kube: Issuer) -> None:
    published = Published(kube)
    clock = [0.0]
    discovery = Discovery(published, WorkloadTokens((ISSUER,)), min_gap=10, clock=lambda: clock[0])
    assert await discovery.refresh()
    assert not await discovery.refresh()  # a flood of made-up key ids costs one fetch per gap
    clock[0] = 11
    assert await discovery.refresh()
    assert published.fetches == 4


async def test_get_identity_and_the_access_log_name_the_account_and_pod(
    world: World, kube: Issuer, caplog: pytest.LogCaptureFixture
) -> None:
    world.app("reports", [HOST], POLICIES)
    token = kube.token(aud=FOR_REPORTS)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        status, body, _ = await world.get(HOST, "/cdn-cgi/access/get-identity", headers=bearer(token))
        assert status == 200
        assert isinstance(body, dict)
        assert {k: body[k] for k in ("common_name", "service_account", "namespace", "pod")} == {
            "common_name": "system:serviceaccount:team-a:reporter",
            "service_account": "reporter",
            "namespace": NS,
            "pod": "reporter-7d9",
        }
        await world.get(HOST, headers=bearer(token))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == LOGGER]
    assert lines, "no access-log line"
    assert lines[-1]["serviceAccount"] == {"namespace": NS, "name": "reporter", "pod": "reporter-7d9"}
    assert lines[-1]["token"] is None
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text


async def test_with_workload_identity_off_a_bearer_is_refused_not_guessed(
    signing_keys: list[SigningKey], kube: Issuer
) -> None:
    w = World(signing_keys)
    await w.start()
    try:
        w.app("reports", [HOST], POLICIES)
        status, body, _ = await w.get(HOST, headers=bearer(kube.token(aud=FOR_REPORTS)))
        assert (status, body) == (401, {"error": "service_accounts_unavailable"})
    finally:
        await w.stop()


async def test_the_assertion_a_pod_got_is_never_accepted_as_a_session(world: World, kube: Issuer) -> None:
    """An origin that replays the JWT it received gets nowhere: it has no gatepass_cred."""
    world.app("reports", [HOST], POLICIES)
    await world.get(HOST, headers=bearer(kube.token(aud=FOR_REPORTS)))
    assertion = world.seen[-1]["headers"]["Cf-Access-Jwt-Assertion"]
    for replay in ({"cf-access-token": assertion}, {"Cookie": f"CF_Authorization={assertion}"}):
        status, body, _ = await world.get(HOST, headers=replay)
        assert (status, body) == (401, {"error": "invalid_jwt"})
