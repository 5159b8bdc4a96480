"""From the seat of an application's owner who wants other tenants' credentials: the
owner writes its application's settings and runs its origin, and other tenants' clients
call it. Whatever the settings say now or said before, the origin receives no
credential (gateway/strip.py), and a workload token it might still get hold of opens no
other application (gateway/workload.py: audiences)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from gatepass.gateway.discovery import Discovery
from gatepass.gateway.workload import Pod, WorkloadTokens
from gatepass.trust.signing import SigningKey
from tests.gateway.conftest import ISSUER, Token, World
from tests.gateway.test_flows import cookie_value
from tests.support.serviceaccounts import Issuer

pytestmark = pytest.mark.asyncio

VICTIM, EVIL = "team-b", "team-evil"
HOME, SHARED = "home.example.com", "shared.example.com"  # the victim's application, the owner's
FOR_HOME, FOR_SHARED = f"{ISSUER}/{VICTIM}/home", f"{ISSUER}/{EVIL}/shared"
ACCOUNT = {"serviceAccount": {"name": "reporter", "namespace": VICTIM}}
VICTIMS_TOKENS = {"anyServiceToken": {"namespaces": [VICTIM]}}
READS_EVERYTHING: dict[str, Any] = {  # the owner's application, as the clients started using it
    "policies": [{"decision": "serviceAuth", "include": [VICTIMS_TOKENS, ACCOUNT]}],
    "allowBasicAuth": True,
    "readServiceTokensFromHeader": "X-Creds",
}
READS_NOTHING: dict[str, Any] = {  # ... and after its owner flipped it: open, reading no credential
    "policies": [{"decision": "bypass", "include": [{"everyone": {}}]}],
    "strictServiceTokenAuth": True,  # sessions (cookie, cf-access-token) ignored, not refused
}


@pytest.fixture(scope="module")
def kube() -> Issuer:
    i = Issuer()
    i.add_rsa("sa-key-1")
    return i


@pytest_asyncio.fixture
async def world(signing_keys: list[SigningKey], kube: Issuer) -> AsyncIterator[World]:
    async def published(path: str) -> Any:
        return {"issuer": kube.issuer} if path.endswith("openid-configuration") else kube.jwks()

    workloads = WorkloadTokens((ISSUER,))
    await Discovery(published, workloads, min_gap=0).load()
    workloads.set_accounts({(VICTIM, "reporter"): "sa-uid-1"})
    workloads.set_pods({"pod-uid-1": Pod(VICTIM)})
    w = World(signing_keys, workloads=workloads)
    await w.start()
    # The victim's own application: what a harvested credential would open.
    w.app(
        "home",
        [HOME],
        [{"decision": "serviceAuth", "include": [VICTIMS_TOKENS, ACCOUNT]}],
        namespace=VICTIM,
        readServiceTokensFromHeader="X-Home-Creds",
    )
    yield w
    await w.stop()


def pod_token(kube: Issuer, aud: str) -> str:
    return kube.token(namespace=VICTIM, aud=aud)


def sent_forms(client: Token, kube: Issuer) -> dict[str, dict[str, str]]:
    """Every way the victim's clients present what they hold."""
    pair = f"{client.client_id}:{client.client_secret}"
    doc = json.dumps(
        {"cf-access-client-id": client.client_id, "cf-access-client-secret": client.client_secret}
    )
    return {
        "basic": {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()},
        "json header": {"X-Creds": doc},
        "json header another application configured": {"X-Home-Creds": doc},
        "json header no application configured": {"X-Never-Configured": doc},
        "cloudflare headers": client.headers,
        "pod token for the owner's application": {"Authorization": f"Bearer {pod_token(kube, FOR_SHARED)}"},
        "pod token for its own application": {"Authorization": f"Bearer {pod_token(kube, FOR_HOME)}"},
        "pod token of the old, shared audience": {"Authorization": f"Bearer {pod_token(kube, ISSUER)}"},
        "pod token in cf-access-token": {"cf-access-token": pod_token(kube, FOR_HOME)},
    }


# Each form, and what the owner's application answers while it still reads everything:
# 200 read, and stripped; 401 not its form, or a pod token bound to another application.
FORMS = {
    "basic": 200,
    "json header": 200,
    "json header another application configured": 401,
    "json header no application configured": 401,
    "cloudflare headers": 200,
    "pod token for the owner's application": 200,
    "pod token for its own application": 401,
    "pod token of the old, shared audience": 401,
    "pod token in cf-access-token": 401,
}


def leaked(world: World, *secrets: str) -> list[str]:
    """The headers of the last request the origin got that hold any of ``secrets``."""
    seen = world.seen[-1]["headers"]
    return [name for name, value in seen.items() if any(s in value for s in secrets)]


@pytest.mark.parametrize(("form", "first"), FORMS.items(), ids=FORMS.keys())
async def test_an_owner_who_stops_reading_a_form_harvests_none_of_it(
    world: World, kube: Issuer, form: str, first: int
) -> None:
    client = world.token("client", namespace=VICTIM)
    world.app("shared", [SHARED], namespace=EVIL, **READS_EVERYTHING)
    headers = sent_forms(client, kube)[form]
    secrets = [client.client_secret, *headers.values()]
    status, body, _ = await world.get(SHARED, headers=headers)
    assert status == first, body
    if status == 200:
        assert leaked(world, *secrets) == []
    world.app("shared", [SHARED], namespace=EVIL, **READS_NOTHING)  # the owner flips its settings
    status, body, _ = await world.get(SHARED, headers={**headers, "X-Kept": "yes"})
    assert status == 200, body
    assert leaked(world, *secrets) == []
    assert world.seen[-1]["headers"]["X-Kept"] == "yes"


async def test_another_applications_session_cookie_never_reaches_an_origin(world: World) -> None:
    """A cookie follows its host, not its application: a host that changed hands, or one
    application's cookie sent to a neighbour on the same host, carries a session usable
    (as cf-access-token) at the application that minted it."""
    client = world.token("client", namespace=VICTIM)
    status, _, resp = await world.get(HOME, headers=client.headers)
    assert status == 200
    home_session = cookie_value(resp)
    world.app("shared", [SHARED], namespace=EVIL, **READS_NOTHING)
    cookie = {"Cookie": f"theme=dark; CF_Authorization={home_session}; lang=en"}
    assert (await world.get(SHARED, headers=cookie))[0] == 200
    assert world.seen[-1]["headers"]["Cookie"] == "theme=dark; lang=en"
    # ... as Bearer, too: a session of the gateway's is a credential wherever it is.
    assert (await world.get(SHARED, headers={"Authorization": f"Bearer {home_session}"}))[0] == 200
    assert leaked(world, home_session) == []
    # The replay the origin would have tried.
    assert (await world.get(HOME, headers={"cf-access-token": home_session}))[0] == 200


async def test_an_origin_still_gets_the_session_cookie_that_is_its_assertion(world: World) -> None:
    """Origins written for Cloudflare may read CF_Authorization: their own stays."""
    client = world.token("client", namespace=VICTIM)
    _, _, resp = await world.get(HOME, headers=client.headers)
    session = cookie_value(resp)
    assert (await world.get(HOME, headers={"Cookie": f"CF_Authorization={session}"}))[0] == 200
    seen = world.seen[-1]["headers"]
    assert seen["Cookie"] == f"CF_Authorization={session}"
    assert seen["Cf-Access-Jwt-Assertion"] == session


async def test_a_workload_token_minted_for_one_application_is_refused_at_another(
    world: World, kube: Issuer
) -> None:
    world.app("shared", [SHARED], namespace=EVIL, policies=READS_EVERYTHING["policies"])
    # The audience a pod's token had before, the gateway's alone, opened both: now neither.
    for host in (HOME, SHARED):
        status, body, _ = await world.get(host, headers={"cf-access-token": pod_token(kube, ISSUER)})
        assert (status, body) == (401, {"error": "wrong_audience"}), host
    for host, mine, other in ((HOME, FOR_HOME, FOR_SHARED), (SHARED, FOR_SHARED, FOR_HOME)):
        status, body, _ = await world.get(host, headers={"Authorization": f"Bearer {pod_token(kube, mine)}"})
        assert status == 200, (host, body)
        status, body, _ = await world.get(host, headers={"Authorization": f"Bearer {pod_token(kube, other)}"})
        assert (status, body) == (401, {"error": "wrong_audience"}), host
    # The short form: the application of that name in the pod's own namespace.
    short = pod_token(kube, f"{ISSUER}/home")
    assert (await world.get(HOME, headers={"Authorization": f"Bearer {short}"}))[0] == 200
    short = pod_token(kube, f"{ISSUER}/shared")  # names team-b/shared, not team-evil/shared
    status, body, _ = await world.get(SHARED, headers={"Authorization": f"Bearer {short}"})
    assert (status, body) == (401, {"error": "wrong_audience"})
