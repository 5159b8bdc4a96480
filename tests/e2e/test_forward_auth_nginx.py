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


@pytest.fixture
def nginx(tmp_path: Path, gateway: GatewayProcess, upstream: Upstream) -> Iterator[str]:
    if NGINX is None:
        pytest.skip("nginx is not installed (make test installs it with apt-get when run as root)")
    port = free_port()
    http = nginx_conf.forward_auth(port, gateway.port, upstream.port)
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
    assert "CF-Access-Client-Secret" not in seen
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
