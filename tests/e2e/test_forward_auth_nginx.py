"""Forward-auth behind a real nginx (auth_request): no gateway hop on the data path."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from kubernetes import client

from tests.support import nginx as nginx_conf
from tests.support.apps import ANY_TOKEN, Apps
from tests.support.gateway import GatewayProcess, Upstream
from tests.support.operator import OperatorProcess
from tests.support.tokens import Tokens
from tests.support.waiting import free_port, wait_for

NGINX = nginx_conf.path()


def _serve(tmp_path: Path, gateway: GatewayProcess, upstream: Upstream, cache: bool) -> Iterator[str]:
    if NGINX is None:
        pytest.skip("nginx is not installed (make test installs it with apt-get when run as root)")
    port = free_port()
    http = nginx_conf.forward_auth(port, gateway.port, upstream.port, tmp_path / "checks" if cache else None)
    conf = nginx_conf.write(tmp_path, "nginx", http)
    proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        wait_for(lambda: _listening(port), timeout=10, what="nginx listening")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()


@pytest.fixture
def nginx(tmp_path: Path, gateway: GatewayProcess, upstream: Upstream) -> Iterator[str]:
    yield from _serve(tmp_path, gateway, upstream, cache=False)


@pytest.fixture
def cached_nginx(tmp_path: Path, gateway: GatewayProcess, upstream: Upstream) -> Iterator[str]:
    """The README's configuration: the checks' answers kept (gateway/reuse.py)."""
    yield from _serve(tmp_path, gateway, upstream, cache=True)


def _listening(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/", timeout=1)
        return True
    except requests.ConnectionError:
        return False


def test_nginx_auth_request_lets_the_right_requests_through(
    nginx: str, api: client.ApiClient, namespace: str, running_operator: OperatorProcess, upstream: Upstream
) -> None:
    tokens, apps = Tokens(api, namespace), Apps(api, namespace)
    host = f"fwd.{namespace}.test"
    apps.create("fwd", {"hosts": [host], "upstream": "http://unused.invalid", "policies": ANY_TOKEN})
    apps.wait_aud("fwd")
    tokens.create("ci")
    tokens.wait_ready("ci")
    creds = tokens.creds("ci")
    good = {
        "Host": host,
        "CF-Access-Client-Id": creds.client_id,
        "CF-Access-Client-Secret": creds.client_secret,
    }

    resp = wait_for(
        lambda: (
            [r]
            if (r := requests.get(nginx + "/report?q=1", headers=good, timeout=5)).status_code == 200
            else None
        ),
        timeout=5,
        what="nginx lets the token through",
    )[0]
    assert resp.json()["path"] == "/report?q=1"
    seen = upstream.seen[-1]["headers"]
    assert seen["Cf-Access-Jwt-Assertion"].count(".") == 2
    # Header names as any proxy spells them (Caddy sends Go's canonical Cf-Access-…).
    assert not {"cf-access-client-secret", "cf-access-token"} & {k.lower() for k in seen}
    cookie = resp.cookies["CF_Authorization"]
    assert cookie == seen["Cf-Access-Jwt-Assertion"]

    before = len(upstream.seen)
    assert requests.get(nginx + "/", headers={"Host": host}, timeout=5).status_code == 401
    wrong = {
        **good,
        "CF-Access-Client-Secret": creds.client_secret[:-1]
        + ("A" if creds.client_secret[-1] != "A" else "B"),
    }
    assert requests.get(nginx + "/", headers=wrong, timeout=5).status_code == 401
    assert len(upstream.seen) == before  # refused requests never reached the origin
    with_cookie = {"Host": host, "Cookie": f"CF_Authorization={cookie}"}
    assert requests.get(nginx + "/again", headers=with_cookie, timeout=5).status_code == 200
    tokens.delete("ci")
    wait_for(
        lambda: requests.get(nginx + "/", headers=with_cookie, timeout=5).status_code == 401,
        timeout=2,
        what="the deleted token's cookie refused",
    )


def test_behind_nginx_a_client_cannot_choose_its_address(
    nginx: str, api: client.ApiClient, namespace: str, running_operator: OperatorProcess, upstream: Upstream
) -> None:
    """nginx (127.0.0.1) is a trusted proxy, as the README says to configure it; the client
    writes X-Forwarded-For itself, naming an address an IP rule lets in."""
    apps = Apps(api, namespace)
    office, local = f"office.{namespace}.test", f"local.{namespace}.test"
    for name, host, ranges in (("office", office, ["203.0.113.0/24"]), ("local", local, ["127.0.0.1"])):
        bypass = [{"decision": "bypass", "include": [{"ip": {"ranges": ranges}}]}]
        apps.create(name, {"hosts": [host], "upstream": "http://unused.invalid", "policies": bypass})
        apps.wait_aud(name)
    wait_for(
        lambda: requests.get(nginx + "/", headers={"Host": local}, timeout=5).status_code == 200,
        timeout=5,
        what="the gateway serving the applications",
    )  # the address nginx saw is the one checked
    before = len(upstream.seen)
    for forged in ("203.0.113.7", "198.51.100.1, 203.0.113.7"):
        r = requests.get(nginx + "/", headers={"Host": office, "X-Forwarded-For": forged}, timeout=5)
        assert r.status_code == 401, forged
    assert len(upstream.seen) == before  # never reached the origin
    forged_local = {"Host": local, "X-Forwarded-For": "203.0.113.7"}
    assert requests.get(nginx + "/", headers=forged_local, timeout=5).status_code == 200


def _checks(gateway: GatewayProcess, app: str) -> float:
    """How many requests for ``app`` the gateway decided (its metrics)."""
    lines = gateway.metrics().splitlines()
    mine = [
        line
        for line in lines
        if line.startswith("gatepass_gateway_requests_total{") and f'app="{app}"' in line
    ]
    return sum(float(line.rsplit(" ", 1)[1]) for line in mine)


def test_a_cached_admission_answers_its_own_session_only(
    cached_nginx: str,
    api: client.ApiClient,
    namespace: str,
    running_operator: OperatorProcess,
    upstream: Upstream,
    gateway: GatewayProcess,
) -> None:
    """From the attacker's seat: session A's admission is in nginx's cache; no other session,
    no session, and no credentials (wrong, or another token's) are answered from it."""
    tokens, apps = Tokens(api, namespace), Apps(api, namespace)
    host, elsewhere = f"cached.{namespace}.test", f"elsewhere.{namespace}.test"
    only_a = [{"decision": "serviceAuth", "include": [{"serviceToken": {"name": "a"}}]}]
    apps.create("cached", {"hosts": [host], "upstream": "http://unused.invalid", "policies": only_a})
    apps.create(
        "elsewhere", {"hosts": [elsewhere], "upstream": "http://unused.invalid", "policies": ANY_TOKEN}
    )
    for name in ("cached", "elsewhere"):
        apps.wait_aud(name)
    for name in ("a", "b"):
        tokens.create(name)
        tokens.wait_ready(name)
    a, b = tokens.creds("a"), tokens.creds("b")
    a_creds = {"CF-Access-Client-Id": a.client_id, "CF-Access-Client-Secret": a.client_secret}
    b_creds = {"CF-Access-Client-Id": b.client_id, "CF-Access-Client-Secret": b.client_secret}

    def cookie(at: str, creds: dict[str, str]) -> str | None:
        r = requests.get(cached_nginx + "/", headers={"Host": at, **creds}, timeout=5)
        return r.cookies.get("CF_Authorization") if r.status_code == 200 else None

    session_a = wait_for(lambda: cookie(host, a_creds), timeout=10, what="token a admitted")
    session_b = wait_for(lambda: cookie(elsewhere, b_creds), timeout=10, what="token b admitted elsewhere")
    with_a = {"Host": host, "Cookie": f"CF_Authorization={session_a}"}

    before = _checks(gateway, f"{namespace}/cached")
    for _ in range(10):
        assert requests.get(cached_nginx + "/report", headers=with_a, timeout=5).status_code == 200
        assert upstream.seen[-1]["headers"]["Cf-Access-Jwt-Assertion"] == session_a  # from the cache too
    assert _checks(gateway, f"{namespace}/cached") - before < 10  # some were answered from the cache

    forged = session_a[:-2] + ("AA" if not session_a.endswith("AA") else "BB")
    attempts = {
        "session B": {"Cookie": f"CF_Authorization={session_b}"},
        "a forged session": {"Cookie": f"CF_Authorization={forged}"},
        "session B as cf-access-token": {"cf-access-token": str(session_b)},
        "no session": {},
        "a wrong secret": {**a_creds, "CF-Access-Client-Secret": b.client_secret},
        "a wrong secret, beside session A": {
            **a_creds,
            "CF-Access-Client-Secret": b.client_secret,
            "Cookie": f"CF_Authorization={session_a}",
        },
        "another token's credentials, beside session A": {
            **b_creds,
            "Cookie": f"CF_Authorization={session_a}",
        },
    }
    before = len(upstream.seen)
    for what, headers in attempts.items():
        assert requests.get(cached_nginx + "/report", headers=with_a, timeout=5).status_code == 200  # cached
        status = requests.get(
            cached_nginx + "/report", headers={"Host": host, **headers}, timeout=5
        ).status_code
        assert status in (401, 403), what
        assert len(upstream.seen) == before + 1, what  # only session A's request reached the origin
        before = len(upstream.seen)


def test_through_the_cache_a_deleted_tokens_session_ends_within_the_bound(
    cached_nginx: str, api: client.ApiClient, namespace: str, running_operator: OperatorProcess
) -> None:
    """The gateway's default bound is 1 s: a deleted token's session is refused through the
    cached path within that and the second the revocation may take to reach the gateway."""
    tokens, apps = Tokens(api, namespace), Apps(api, namespace)
    host = f"revoked.{namespace}.test"
    apps.create("revoked", {"hosts": [host], "upstream": "http://unused.invalid", "policies": ANY_TOKEN})
    apps.wait_aud("revoked")
    tokens.create("ci")
    tokens.wait_ready("ci")
    creds = tokens.creds("ci")
    sent = {
        "Host": host,
        "CF-Access-Client-Id": creds.client_id,
        "CF-Access-Client-Secret": creds.client_secret,
    }

    def session() -> str | None:
        r = requests.get(cached_nginx + "/", headers=sent, timeout=5)
        return r.cookies.get("CF_Authorization") if r.status_code == 200 else None

    with_cookie = {
        "Host": host,
        "Cookie": f"CF_Authorization={wait_for(session, timeout=10, what='admitted')}",
    }
    assert requests.get(cached_nginx + "/", headers=with_cookie, timeout=5).status_code == 200  # now cached
    tokens.delete("ci")
    wait_for(
        lambda: requests.get(cached_nginx + "/", headers=with_cookie, timeout=5).status_code == 401,
        timeout=2,
        interval=0.02,
        what="the deleted token's session refused through the cache",
    )
