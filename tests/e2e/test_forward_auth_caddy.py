"""Forward-auth behind a real Caddy (Debian's package): its forward_auth directive, with
the configuration the README shows (gatepass.proxyconfigs.caddy)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from kubernetes import client

from tests.support import caddy as caddy_conf
from tests.support.apps import ANY_TOKEN, Apps
from tests.support.gateway import GatewayProcess, Upstream
from tests.support.operator import OperatorProcess
from tests.support.tokens import Tokens
from tests.support.waiting import free_port, wait_for

CADDY = caddy_conf.path()
ONLY_ADMIN = [{"decision": "serviceAuth", "include": [{"serviceToken": {"name": "admin"}}]}]


@pytest.fixture
def caddy(tmp_path: Path, gateway: GatewayProcess, upstream: Upstream) -> Iterator[str]:
    if CADDY is None:
        pytest.skip("caddy is not installed (make test installs it with apt-get when run as root)")
    port = free_port()
    conf = caddy_conf.write(tmp_path, caddy_conf.forward_auth(port, gateway.port, upstream.port))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    log = (tmp_path / "caddy.log").open("wb")
    run = [CADDY, "run", "--config", str(conf), "--adapter", "caddyfile"]
    proc = subprocess.Popen(run, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: _listening(port), timeout=10, what="caddy listening")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _listening(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/", timeout=1)
        return True
    except requests.ConnectionError:
        return False


def test_caddy_forward_auth_lets_the_right_requests_through(
    caddy: str, api: client.ApiClient, namespace: str, running_operator: OperatorProcess, upstream: Upstream
) -> None:
    tokens, apps = Tokens(api, namespace), Apps(api, namespace)
    host = f"caddy.{namespace}.test"
    apps.create("site", {"hosts": [host], "upstream": "http://unused.invalid", "policies": ANY_TOKEN})
    apps.create(
        "admin", {"hosts": [f"{host}/admin"], "upstream": "http://unused.invalid", "policies": ONLY_ADMIN}
    )
    apps.wait_aud("site")
    apps.wait_aud("admin")
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
            if (r := requests.get(caddy + "/report?q=1", headers=good, timeout=5)).status_code == 200
            else None
        ),
        timeout=5,
        what="caddy lets the token through",
    )[0]
    assert resp.json()["path"] == "/report?q=1"
    seen = upstream.seen[-1]["headers"]
    assert seen["Cf-Access-Jwt-Assertion"].count(".") == 2
    # Header names as any proxy spells them (Caddy sends Go's canonical Cf-Access-…).
    assert not {"cf-access-client-secret", "cf-access-token"} & {k.lower() for k in seen}
    assert creds.client_secret not in str(seen)

    before = len(upstream.seen)
    # Refusals come back as gatepass answered them: status and JSON body.
    r = requests.get(caddy + "/", headers={"Host": host}, timeout=5)
    assert (r.status_code, r.json()) == (401, {"error": "no_credentials"})
    r = requests.post(caddy + "/admin/x", headers=good, data=b"payload", timeout=5)
    assert (r.status_code, r.json()) == (403, {"error": "not_allowed"})
    assert len(upstream.seen) == before  # refused requests never reached the origin


def test_behind_caddy_a_client_chooses_neither_its_address_nor_its_assertion(
    caddy: str, api: client.ApiClient, namespace: str, running_operator: OperatorProcess, upstream: Upstream
) -> None:
    """Caddy (127.0.0.1) is a trusted proxy; the client writes X-Forwarded-For itself,
    naming an address an IP rule lets in, and an assertion of its own."""
    apps = Apps(api, namespace)
    office, local = f"office.{namespace}.test", f"local.{namespace}.test"
    for name, host, ranges in (("office", office, ["203.0.113.0/24"]), ("local", local, ["127.0.0.1"])):
        bypass = [{"decision": "bypass", "include": [{"ip": {"ranges": ranges}}]}]
        apps.create(name, {"hosts": [host], "upstream": "http://unused.invalid", "policies": bypass})
        apps.wait_aud(name)
    wait_for(
        lambda: requests.get(caddy + "/", headers={"Host": local}, timeout=5).status_code == 200,
        timeout=5,
        what="the gateway serving the applications",
    )  # the address Caddy saw is the one checked
    before = len(upstream.seen)
    for forged in ("203.0.113.7", "198.51.100.1, 203.0.113.7"):
        r = requests.get(caddy + "/", headers={"Host": office, "X-Forwarded-For": forged}, timeout=5)
        assert r.status_code == 401, forged
    assert len(upstream.seen) == before  # never reached the origin
    forged_local = {"Host": local, "X-Forwarded-For": "203.0.113.7", "Cf-Access-Jwt-Assertion": "forged"}
    assert requests.get(caddy + "/", headers=forged_local, timeout=5).status_code == 200
    assert "Cf-Access-Jwt-Assertion" not in upstream.seen[-1]["headers"]  # a bypass carries none
