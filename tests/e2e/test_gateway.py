"""The seed flows end to end: operator + gateway + API server + a real origin."""

from __future__ import annotations

import base64
import json
import netrc
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import cookiejar as http_cookiejar
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
import pytest
import requests
from kubernetes import client

from gatepass.contract import APP_MAX, TRUNCATED, format_ts_fine, parse_ts
from tests.support.apps import ANY_TOKEN, Apps
from tests.support.gateway import GatewayProcess, Upstream
from tests.support.operator import ISSUER, OPERATOR_NAMESPACE, OperatorProcess
from tests.support.reports import shard_of
from tests.support.tokens import Creds, Tokens, altered, stamp
from tests.support.waiting import wait_for


@dataclass
class Env:
    tokens: Tokens
    apps: Apps
    gateway: GatewayProcess
    upstream: Upstream
    http: requests.Session

    def get(self, host: str, path: str = "/", headers: dict[str, str] | None = None) -> requests.Response:
        return self.http.get(self.gateway.url + path, headers={"Host": host, **(headers or {})}, timeout=10)

    def app(
        self, name: str, policies: list[dict[str, object]] | None = None, **spec: object
    ) -> tuple[str, str]:
        host = f"{name}.{self.tokens.ns}.test"
        self.apps.create(
            name,
            {
                "hosts": [host],
                "upstream": self.upstream.url + "/app",
                "policies": policies or ANY_TOKEN,
                **spec,
            },
        )
        aud = self.apps.wait_aud(name)
        wait_for(lambda: self.get(host).status_code != 404, timeout=5, what=f"gateway routes {host}")
        return host, aud

    def token(self, name: str, spec: dict[str, object] | None = None) -> Creds:
        self.tokens.create(name, spec)
        self.tokens.wait_ready(name)
        creds = self.tokens.creds(spec.get("secretName", name) if spec else name)  # type: ignore[arg-type]
        return creds


def headers_of(creds: Creds) -> dict[str, str]:
    return {"CF-Access-Client-Id": creds.client_id, "CF-Access-Client-Secret": creds.client_secret}


@pytest.fixture
def env(
    api: client.ApiClient,
    namespace: str,
    running_operator: OperatorProcess,
    gateway: GatewayProcess,
    upstream: Upstream,
) -> Iterator[Env]:
    with requests.Session() as http:
        # Like a script with curl: cookies are sent only when a test says so.
        http.cookies.set_policy(http_cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        yield Env(Tokens(api, namespace), Apps(api, namespace), gateway, upstream, http)


def wait_token_known(env: Env, host: str, creds: Creds) -> requests.Response:
    """The gateway learns of a new token by watch: wait until it answers other than 401.
    (A Response is falsy for 4xx, so it travels in a list.)"""
    (resp,) = wait_for(
        lambda: [r] if (r := env.get(host, headers=headers_of(creds))).status_code != 401 else None,
        timeout=5,
        what="gateway knows the token",
    )
    return resp


def test_seed_flow_headers_cookie_and_cf_access_token(env: Env) -> None:
    host, aud = env.app("reports")
    creds = env.token("ci-bot")
    resp = wait_token_known(env, host, creds)
    assert resp.status_code == 200
    assert resp.json()["origin"] == "ok"
    cookie = resp.cookies["CF_Authorization"]
    set_cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie
    assert "Path=/" in set_cookie

    seen = env.upstream.seen[-1]["headers"]
    assert "CF-Access-Client-Secret" not in seen
    assertion = seen["Cf-Access-Jwt-Assertion"]
    assert assertion == cookie
    # An origin verifies with nothing but a standard library and the JWKS URL.
    jwks = jwt.PyJWKClient(env.gateway.url + "/cdn-cgi/access/certs")
    claims = jwt.decode(
        assertion,
        jwks.get_signing_key_from_jwt(assertion).key,
        algorithms=["RS256"],
        audience=aud,
        issuer=ISSUER,
    )
    assert claims["aud"] == [aud]
    assert claims["common_name"] == creds.client_id
    assert claims["type"] == "app"
    assert claims["sub"] == ""
    assert claims["exp"] - claims["iat"] == 24 * 3600

    assert env.get(host, headers={"Cookie": f"CF_Authorization={cookie}"}).status_code == 200
    assert env.get(host, headers={"cf-access-token": cookie}).status_code == 200
    assert env.upstream.seen[-1]["headers"]["Cf-Access-Jwt-Assertion"] == cookie
    assert env.upstream.seen[-1]["path"] == "/app/"
    oidc = env.http.get(env.gateway.url + "/.well-known/openid-configuration", timeout=5).json()
    assert oidc["issuer"] == ISSUER


def test_refusals(env: Env) -> None:
    host, _ = env.app(
        "strict", [{"decision": "serviceAuth", "include": [{"serviceToken": {"name": "allowed"}}]}]
    )
    allowed = env.token("allowed")
    outsider = env.token("outsider")
    short = env.token("short", {"duration": "3s"})
    wait_token_known(env, host, allowed)
    wait_token_known(env, host, outsider)

    def status(headers: dict[str, str]) -> tuple[int, str]:
        r = env.get(host, headers=headers)
        return r.status_code, r.json().get("error", "")

    assert status({**headers_of(allowed), "CF-Access-Client-Secret": outsider.client_secret}) == (
        401,
        "invalid_credentials",
    )
    assert status({**headers_of(allowed), "CF-Access-Client-Id": "0" * 32 + ".access"})[0] == 401
    assert status({"CF-Access-Client-Id": allowed.client_id}) == (401, "incomplete_credentials")
    assert status({}) == (401, "no_credentials")
    assert status(headers_of(outsider)) == (403, "not_allowed")
    time.sleep(3.2)
    assert status(headers_of(short)) == (401, "token_expired")  # the gateway checks expiry itself

    env.tokens.patch("allowed", {"spec": {"enabled": False}})
    wait_for(
        lambda: status(headers_of(allowed)) == (401, "token_disabled"), timeout=5, what="disabled refused"
    )


def test_an_expired_token_reaches_a_bypassed_path(env: Env) -> None:
    """Bypass is Access turned off (Cloudflare): a client whose token expired still reaches the
    public health endpoint, its credentials stripped and nothing minted; the rest still 401."""
    host, _ = env.app("guarded")
    env.apps.create(
        "health",
        {
            "hosts": [f"{host}/health"],
            "upstream": env.upstream.url + "/app",
            "policies": [{"decision": "bypass", "include": [{"everyone": {}}]}],
        },
    )
    wait_for(lambda: env.get(host, "/health").status_code == 200, timeout=5, what="the bypass is routed")
    creds = env.token("lapsing", {"duration": "3s"})
    jwt_value = wait_token_known(env, host, creds).cookies["CF_Authorization"]
    stale = {**headers_of(creds), "Cookie": f"CF_Authorization={jwt_value}"}
    wait_for(
        lambda: env.get(host, headers=headers_of(creds)).json().get("error") == "token_expired",
        timeout=10,
        what="the token expired",
    )
    r = env.get(host, "/health/live", headers=stale)
    assert r.status_code == 200
    assert "Set-Cookie" not in r.headers
    seen = env.upstream.seen[-1]
    assert seen["path"] == "/app/health/live"
    received = str(seen["headers"])
    for credential in (creds.client_secret, jwt_value):
        assert credential not in received
    assert env.get(host, headers=stale).json() == {"error": "token_expired"}  # Access still applies


def test_token_of_another_namespace(env: Env, api: client.ApiClient) -> None:
    host, _ = env.app("ns-scoped")
    core = client.CoreV1Api(api)
    other_ns = f"{env.tokens.ns}-b"[:63]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other_ns)))
    try:
        other = Tokens(api, other_ns)
        other.create("visitor")
        other.wait_ready("visitor")
        creds = other.creds("visitor")
        r = wait_token_known(env, host, creds)
        assert (r.status_code, r.json()["error"]) == (403, "not_allowed")
        # ...unless the application lists that namespace explicitly.
        env.apps.patch(
            "ns-scoped",
            {
                "spec": {
                    "policies": [
                        {
                            "decision": "serviceAuth",
                            "include": [{"anyServiceToken": {"namespaces": [other_ns]}}],
                        }
                    ]
                }
            },
        )
        wait_for(lambda: env.get(host, headers=headers_of(creds)).status_code == 200, timeout=5)
    finally:
        core.delete_namespace(other_ns)


def test_delete_refuses_headers_and_earlier_jwt_within_1s(env: Env) -> None:
    host, _ = env.app("revoke")
    creds = env.token("doomed")
    jwt_value = wait_token_known(env, host, creds).cookies["CF_Authorization"]
    cookie = {"Cookie": f"CF_Authorization={jwt_value}"}
    assert env.get(host, headers=cookie).status_code == 200
    env.tokens.delete("doomed")
    start = time.monotonic()
    wait_for(
        lambda: env.get(host, headers=cookie).status_code == 401, timeout=1, interval=0.02, what="JWT refused"
    )
    wait_for(lambda: env.get(host, headers=headers_of(creds)).status_code == 401, timeout=1, interval=0.02)
    print(f"refused {time.monotonic() - start:.3f}s after the delete")


def test_rotation_old_and_new_work_until_grace_ends(env: Env) -> None:
    host, _ = env.app("rotation")
    old = env.token("rot", {"rotationGracePeriod": "1h"})
    wait_token_known(env, host, old)
    before = env.tokens.status("rot")["secretHash"]
    env.tokens.annotate("rot", "gatepass.dev/rotate", "1")
    wait_for(lambda: env.tokens.status("rot").get("secretHash") != before, timeout=5)
    new = env.tokens.creds("rot")
    wait_for(lambda: env.get(host, headers=headers_of(new)).status_code == 200, timeout=5)
    assert env.get(host, headers=headers_of(old)).status_code == 200
    # The grace, cut short to a few seconds from now (kubectl gatepass end-grace --in 3s).
    env.tokens.annotate(
        "rot", "gatepass.dev/previous-secret-expires-at", stamp(datetime.now(UTC) + timedelta(seconds=3))
    )
    wait_for(lambda: env.get(host, headers=headers_of(old)).status_code == 401, timeout=8, what="grace end")
    assert env.get(host, headers=headers_of(new)).status_code == 200


def test_bypass_and_deny(env: Env) -> None:
    # Cloudflare's order: bypass and serviceAuth first; a deny refuses what they leave out.
    host, _ = env.app(
        "public",
        [
            {
                "decision": "bypass",
                "include": [{"everyone": {}}],
                "exclude": [{"serviceToken": {"name": "blocked"}}],
            },
            {"decision": "deny", "include": [{"serviceToken": {"name": "blocked"}}]},
        ],
    )
    blocked = env.token("blocked")
    assert env.get(host).status_code == 200
    assert "Cf-Access-Jwt-Assertion" not in env.upstream.seen[-1]["headers"]
    wait_for(lambda: env.get(host, headers=headers_of(blocked)).status_code == 403, timeout=5)
    assert env.apps.condition("public", "DenyPoliciesEffective")["status"] == "True"


def test_a_deny_above_bypass_is_overruled_and_said_so(env: Env, api: client.ApiClient) -> None:
    """The upgrade hazard: a manifest written for first-match-wins. Served as Cloudflare
    would serve it, with a warning condition and Event naming both policies."""
    host, _ = env.app(
        "legacy",
        [
            {"name": "no-blocked", "decision": "deny", "include": [{"serviceToken": {"name": "blocked"}}]},
            {"name": "public", "decision": "bypass", "include": [{"everyone": {}}]},
        ],
    )
    blocked = env.token("blocked")
    cond = wait_for(lambda: env.apps.condition("legacy", "DenyPoliciesEffective"), timeout=5)
    assert (cond["status"], cond["reason"]) == ("False", "OverruledByAllowingPolicy")
    assert "deny policy no-blocked is listed above public" in cond["message"]

    def warnings() -> list[str]:
        events = client.CoreV1Api(api).list_namespaced_event(
            env.tokens.ns, field_selector="involvedObject.name=legacy,reason=OverruledByAllowingPolicy"
        )
        return [e.type for e in events.items]

    assert wait_for(warnings, timeout=5) == ["Warning"]
    assert env.get(host, headers=headers_of(blocked)).status_code == 200


def test_strict_mode_one_header_and_basic_auth(env: Env) -> None:
    """Cloudflare's application options, set on the API server, honoured by the gateway."""
    host, _ = env.app(
        "strict",
        strictServiceTokenAuth=True,
        readServiceTokensFromHeader="X-Access",
        allowBasicAuth=True,
    )
    creds = env.token("s")
    r = wait_token_known(env, host, creds)
    assert r.status_code == 200
    assert "CF_Authorization" not in r.cookies
    assertion = env.upstream.seen[-1]["headers"]["Cf-Access-Jwt-Assertion"]
    r = env.get(host, headers={"cf-access-token": assertion})
    assert (r.status_code, r.json()) == (401, {"error": "session_not_accepted"})
    one = json.dumps({"cf-access-client-id": creds.client_id, "cf-access-client-secret": creds.client_secret})
    assert env.get(host, headers={"X-Access": one}).status_code == 200
    assert "X-Access" not in env.upstream.seen[-1]["headers"]
    r = env.get(host)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic ")
    r = env.http.get(
        env.gateway.url + "/", headers={"Host": host}, auth=(creds.client_id, creds.client_secret), timeout=10
    )
    assert r.status_code == 200
    assert "Authorization" not in env.upstream.seen[-1]["headers"]


def test_applications_on_paths_of_one_host(env: Env) -> None:
    host, _ = env.app("site")  # the whole host: any token of the namespace
    only_admins = [{"decision": "serviceAuth", "include": [{"serviceToken": {"name": "admin-bot"}}]}]
    spec = {
        "hosts": [f"{host}/admin"],
        "upstream": env.upstream.url + "/admin-origin",
        "policies": only_admins,
    }
    env.apps.create("admin", spec)
    env.apps.wait_aud("admin")
    ci, admin = env.token("ci"), env.token("admin-bot")
    wait_token_known(env, host, ci)
    wait_token_known(env, host, admin)
    wait_for(
        lambda: env.get(host, "/admin/users", headers_of(ci)).status_code == 403,
        timeout=5,
        what="the gateway routes /admin to its own application",
    )
    r = env.get(host, "/admin/users", headers_of(admin))
    assert r.status_code == 200
    assert "Path=/admin;" in r.headers["Set-Cookie"]
    assert env.upstream.seen[-1]["path"] == "/admin-origin/admin/users"
    for path in ("/Admin/users", "/admin%2Fusers"):
        assert env.get(host, path, headers_of(ci)).status_code == 403, path
    assert env.get(host, "/administrator", headers_of(ci)).status_code == 200  # whole segments only
    assert env.upstream.seen[-1]["path"] == "/app/administrator"
    ready = env.apps.condition("admin", "Ready")
    assert ready is not None
    assert ready["status"] == "True"


def test_ip_rules(env: Env) -> None:
    """Bypass by address; a token only from an address. The test client plays the
    trusted proxy (GATEPASS_TRUSTED_PROXIES=127.0.0.1, set through the operator)."""
    office = {"ip": {"ranges": ["203.0.113.0/24"]}}
    host, _ = env.app(
        "by-address",
        [
            {"decision": "bypass", "include": [{"ip": {"ranges": ["198.51.100.7"]}}]},
            {"decision": "serviceAuth", "include": [{"serviceToken": {"name": "ci"}}], "require": [office]},
        ],
    )
    creds = env.token("ci")
    from_office = {"X-Forwarded-For": "203.0.113.9", **headers_of(creds)}
    wait_for(lambda: env.get(host, headers=from_office).status_code == 200, timeout=5, what="token known")
    assert env.get(host, headers={"X-Forwarded-For": "198.51.100.1", **headers_of(creds)}).status_code == 403
    r = env.get(host, headers={"X-Forwarded-For": "198.51.100.7"})
    assert r.status_code == 200
    assert "Cf-Access-Jwt-Assertion" not in env.upstream.seen[-1]["headers"]  # a bypass
    # What a client writes itself stays on the left and is never read.
    assert env.get(host, headers={"X-Forwarded-For": "198.51.100.7, 192.0.2.1"}).status_code == 401
    r = env.get(host, "/cdn-cgi/access/get-identity", headers=from_office)
    assert r.json()["ip"] == "203.0.113.9"


def test_a_ported_wildcard_path_guards_what_lies_under_it(env: Env) -> None:
    """Cloudflare's ``/admin/*``: the stricter application covers ``/admin/users``, the
    whole-host one everything else (``/admin`` itself included, as Cloudflare has it);
    and a ``*.`` host covers its subdomains, an exact host beating it."""
    host, _ = env.app("ported")  # the whole host: any token of the namespace
    only_admins = [{"decision": "serviceAuth", "include": [{"serviceToken": {"name": "admin-bot"}}]}]
    wild = f"*.wild.{env.tokens.ns}.test"
    spec = {
        "hosts": [f"{host}/admin/*", f"{host}/foo*/bar", wild],
        "upstream": env.upstream.url + "/admin-origin",
        "policies": only_admins,
    }
    env.apps.create("admins", spec)
    env.apps.wait_aud("admins")
    ci, admin = env.token("ci"), env.token("admin-bot")
    wait_token_known(env, host, ci)
    wait_token_known(env, host, admin)
    wait_for(
        lambda: env.get(host, "/admin/users", headers_of(ci)).status_code == 403,
        timeout=5,
        what="the gateway routes /admin/* to its own application",
    )
    for path in ("/admin/users", "/ADMIN//users", "/admin%2Fusers", "/food/stuff/bar/x"):
        assert env.get(host, path, headers_of(ci)).status_code == 403, path
    r = env.get(host, "/admin/users", headers_of(admin))
    assert r.status_code == 200
    assert "Path=/admin;" in r.headers["Set-Cookie"]  # the pattern's literal part
    assert env.upstream.seen[-1]["path"] == "/admin-origin/admin/users"
    for path in ("/admin", "/reports", "/food/stuff"):  # the host's application admits other tokens
        assert env.get(host, path, headers_of(ci)).status_code == 200, path
        assert env.upstream.seen[-1]["path"] == "/app" + path
    sub = f"a.wild.{env.tokens.ns}.test"
    assert env.get(sub, "/", headers_of(ci)).status_code == 403
    assert env.get(sub, "/", headers_of(admin)).status_code == 200
    assert env.get(f"wild.{env.tokens.ns}.test", "/", headers_of(admin)).status_code == 404  # not the apex
    assert env.get(f"b.a.wild.{env.tokens.ns}.test", "/", headers_of(admin)).status_code == 404  # one label
    env.apps.create(
        "exact",
        {
            "hosts": [f"x.wild.{env.tokens.ns}.test"],
            "upstream": env.upstream.url + "/app",
            "policies": ANY_TOKEN,
        },
    )
    wait_for(
        lambda: env.get(f"x.wild.{env.tokens.ns}.test", "/", headers_of(ci)).status_code == 200,
        timeout=5,
        what="an exact host over the wildcard",
    )


def test_secret_files_work_as_mounted(env: Env, tmp_path: Path) -> None:
    """Each rendering of spec.secretTemplate.files, read as a tool reads it, opens the app."""
    host, _ = env.app("formats", readServiceTokensFromHeader="X-Access", allowBasicAuth=True)
    files = [
        {"key": ".netrc", "format": "netrc", "hosts": [host]},
        {"key": "headers.json", "format": "headersJson"},
        {"key": "credentials.json", "format": "credentialsJson"},
    ]
    keys = {"clientId": "client-id", "clientSecret": "client-secret"}
    env.tokens.create("fmt", {"secretTemplate": {"keys": keys, "files": files}})
    env.tokens.wait_ready("fmt")
    data = env.tokens.data("fmt")
    assert set(data) == {"client-id", "client-secret", ".netrc", "headers.json", "credentials.json"}
    headers = json.loads(data["headers.json"])
    wait_for(lambda: env.get(host, headers=headers).status_code == 200, timeout=5, what="token known")
    assert env.get(host, headers={"X-Access": data["credentials.json"]}).status_code == 200
    (tmp_path / "netrc").write_text(data[".netrc"])
    login, _, password = netrc.netrc(str(tmp_path / "netrc")).authenticators(host) or ("", "", "")
    assert (login, password) == (data["client-id"], data["client-secret"])
    r = env.http.get(env.gateway.url + "/", headers={"Host": host}, auth=(login, password), timeout=10)
    assert r.status_code == 200


def test_authorization_as_cloudflare_documents_it(env: Env) -> None:
    """``readServiceTokensFromHeader: Authorization`` on the API server; the Secret's
    credentialsJson file sent as that header, unchanged; the origin never sees it."""
    host, _ = env.app("authz", readServiceTokensFromHeader="Authorization", allowBasicAuth=True)
    files = [{"key": "credentials.json", "format": "credentialsJson"}]
    creds = env.token("authz", {"secretTemplate": {"files": files}})
    one = env.tokens.data("authz")["credentials.json"]
    wait_for(lambda: env.get(host, headers={"Authorization": one}).status_code == 200, timeout=5, what="JSON")
    assert "Authorization" not in env.upstream.seen[-1]["headers"]
    assert creds.client_secret not in json.dumps(env.upstream.seen[-1]["headers"])
    basic = env.http.get(
        env.gateway.url + "/", headers={"Host": host}, auth=(creds.client_id, creds.client_secret), timeout=10
    )
    assert basic.status_code == 200  # Basic beside it: each by its shape
    r = env.get(host, headers={"Authorization": "Bearer origin-token"})
    assert (r.status_code, r.json()) == (401, {"error": "no_credentials"})


def test_get_identity(env: Env) -> None:
    host, _ = env.app("who")
    creds = env.token("w")
    wait_token_known(env, host, creds)
    r = env.get(host, "/cdn-cgi/access/get-identity", headers=headers_of(creds))
    assert r.status_code == 200
    body = r.json()
    assert (body["service_token_id"], body["service_token_status"]) == (creds.client_id, True)
    assert (body["name"], body["namespace"]) == ("w", env.tokens.ns)
    assert creds.client_secret not in r.text


def test_revoke_existing_sessions(env: Env) -> None:
    host, _ = env.app("sessions")
    creds = env.token("s")
    jwt_value = wait_token_known(env, host, creds).cookies["CF_Authorization"]
    # At once, as the plugin does: the session minted in this same second is refused too.
    asked = datetime.now(UTC)
    notes = {"gatepass.dev/revoke-sessions": format_ts_fine(asked)}
    env.apps.patch("sessions", {"metadata": {"annotations": notes}})
    cookie = {"Cookie": f"CF_Authorization={jwt_value}"}
    wait_for(lambda: env.get(host, headers=cookie).status_code == 401, timeout=5, what="old session refused")
    assert env.get(host, headers=cookie).json() == {"error": "session_revoked"}
    recorded = parse_ts(env.apps.status("sessions")["sessionsRevokedBefore"])
    assert recorded is not None
    assert recorded >= asked
    # The token itself still works, and a session minted after the revocation is kept.
    fresh = env.get(host, headers=headers_of(creds))
    assert fresh.status_code == 200
    new_cookie = {"Cookie": f"CF_Authorization={fresh.cookies['CF_Authorization']}"}
    assert env.get(host, headers=new_cookie).status_code == 200


def test_missing_token_is_reported_not_fatal(env: Env) -> None:
    env.app("pending", [{"decision": "serviceAuth", "include": [{"serviceToken": {"name": "later"}}]}])
    cond = wait_for(lambda: env.apps.condition("pending", "TokensResolved"), timeout=5)
    assert (cond["status"], cond["reason"]) == ("False", "MissingServiceTokens")
    assert env.apps.condition("pending", "Ready")["status"] == "True"
    env.token("later")
    wait_for(lambda: env.apps.condition("pending", "TokensResolved")["status"] == "True", timeout=5)


def test_upstream_down_gives_502(env: Env) -> None:
    host, _ = env.app("down", upstream="http://127.0.0.1:1")
    creds = env.token("d")
    r = wait_token_known(env, host, creds)
    assert (r.status_code, r.json()) == (502, {"error": "upstream_unavailable"})


def test_gateway_metrics(env: Env) -> None:
    host, _ = env.app("metered")
    creds = env.token("m")
    wait_token_known(env, host, creds)
    env.get(host)
    text = env.gateway.metrics()
    label = f'app="{env.tokens.ns}/metered"'
    assert f'gatepass_gateway_requests_total{{{label},outcome="allowed"}}' in text
    assert f'gatepass_gateway_requests_total{{{label},outcome="no_credentials"}}' in text
    assert f"gatepass_gateway_jwts_minted_total{{{label}}}" in text
    assert "gatepass_gateway_request_duration_seconds_bucket" in text
    assert creds.client_secret not in text


def test_a_deleted_applications_metric_series_go_with_it(env: Env) -> None:
    """Deleting an AccessApplication drops its series from /metrics (a gone application's
    would otherwise be exported for the life of the process); other applications' stay."""
    host, _ = env.app("ephemeral")
    creds = env.token("e")
    wait_token_known(env, host, creds)  # allowed, a session minted
    env.get(host)  # refused: no_credentials
    kept, _ = env.app("kept")
    env.get(kept)
    gone, stays = f'app="{env.tokens.ns}/ephemeral"', f'app="{env.tokens.ns}/kept"'
    families = ("requests_total", "request_duration_seconds_bucket", "jwts_minted_total")
    before = env.gateway.metrics()
    for family in families:
        assert f"gatepass_gateway_{family}{{{gone}" in before
    assert stays in before
    env.apps.delete("ephemeral")
    # The gateway's watch sees DELETED: the host is no longer routed, and in the same step
    # the series go (a request to the deleted host is labelled "-", never with the app).
    wait_for(lambda: env.get(host).status_code == 404, timeout=5, what="the gateway forgets the host")
    after = env.gateway.metrics()
    assert gone not in after
    assert f'gatepass_gateway_requests_total{{{stays},outcome="no_credentials"}}' in after


def test_last_seen_reaches_token_status(env: Env) -> None:
    """When, at which application and from which address the token was last used."""
    host, _ = env.app("seen")
    creds = env.token("used")
    assert "lastSeenAt" not in env.tokens.status("used")
    wait_token_known(env, host, creds)
    before = time.time()
    seen = wait_for(lambda: env.tokens.status("used").get("lastSeenAt"), timeout=10, what="status.lastSeenAt")
    stamp = datetime.fromisoformat(seen.replace("Z", "+00:00")).timestamp()
    assert before - 5 <= stamp <= time.time()
    st = env.tokens.status("used")
    assert (st["lastSeenApplication"], st["lastSeenClient"]) == (f"{env.tokens.ns}/seen", "127.0.0.1")


def test_a_use_at_the_longest_named_application_is_recorded_within_bounds(env: Env) -> None:
    """An application named with 253 characters, as the API server admits, used by a token
    with the longest name that can be issued (63: its Secret's label holds it): the report
    cuts the application to APP_MAX and marks it so, whatever a tenant names it."""
    app, token = "a" * 253, "t" * 63
    host = f"longest.{env.tokens.ns}.test"
    env.apps.create(app, {"hosts": [host], "upstream": env.upstream.url + "/app", "policies": ANY_TOKEN})
    env.apps.wait_aud(app)
    wait_for(lambda: env.get(host).status_code != 404, timeout=5, what=f"gateway routes {host}")
    creds = env.token(token)
    assert wait_token_known(env, host, creds).status_code == 200
    wait_for(lambda: env.tokens.status(token).get("lastSeenAt"), timeout=10, what="status.lastSeenAt")
    label = env.tokens.status(token)["lastSeenApplication"]
    assert label == f"{env.tokens.ns}/{app}"[: APP_MAX - len(TRUNCATED)] + TRUNCATED


def test_the_access_log_says_who_reached_what_and_never_the_secret(env: Env) -> None:
    """The gateway process's stdout: one JSON line per request (its own log, at DEBUG here,
    shares the file); the Client Secret appears nowhere, in no encoding."""
    host, _ = env.app("audited")
    creds = env.token("audited-bot")
    wait_token_known(env, host, creds)
    wrong = {**headers_of(creds), "CF-Access-Client-Secret": altered(creds.client_secret)}
    assert env.get(host, "/audit-me?q=1", headers=wrong).status_code == 401

    def lines() -> list[dict[str, Any]]:
        text = env.gateway.logfile.read_text()
        return [json.loads(line) for line in text.splitlines() if line.startswith("{") and host in line]

    # A line is written once the answer is out: wait for it rather than race it.
    def logged() -> list[dict[str, Any]] | None:
        found = lines()
        return found if any(x["path"] == "/audit-me" for x in found) else None

    found = wait_for(logged, timeout=5, what="the refused request in the access log")
    allowed = next(line for line in found if line["decision"] == "allow")
    assert allowed["token"] == {
        "namespace": env.tokens.ns,
        "name": "audited-bot",
        "clientId": creds.client_id,
    }
    assert (allowed["app"], allowed["client"], allowed["status"]) == (
        f"{env.tokens.ns}/audited",
        "127.0.0.1",
        200,
    )
    refused = [line for line in found if line["path"] == "/audit-me"]
    assert [(r["status"], r["reason"]) for r in refused] == [(401, "malformed_credentials")]  # checksum
    text = env.gateway.logfile.read_text()
    secret = creds.client_secret
    for needle in (secret, secret[5:30], base64.b64encode(secret.encode()).decode(), quote(secret, safe="")):
        assert needle not in text


def test_a_token_over_its_rate_limit_gets_429_with_retry_after(env: Env) -> None:
    host, _ = env.app("limited")
    creds = env.token("slow-bot", {"rateLimit": {"requestsPerSecond": 0.01, "burst": 2}})
    resp = wait_token_known(env, host, creds)  # the first request of the burst
    assert resp.status_code == 200
    assert env.get(host, headers=headers_of(creds)).status_code == 200
    refused = env.get(host, headers=headers_of(creds))
    assert (refused.status_code, refused.json()) == (429, {"error": "rate_limited"})
    assert 90 <= int(refused.headers["Retry-After"]) <= 100  # one request per 100 s
    other = env.token("fast-bot")  # another token is not slowed
    assert wait_token_known(env, host, other).status_code == 200
    series = f'gatepass_gateway_rate_limited_total{{name="slow-bot",namespace="{env.tokens.ns}"}}'
    assert series in env.gateway.metrics()
    # The token goes, and its series with it (not exported for the life of the process).
    env.tokens.delete("slow-bot")
    wait_for(lambda: env.get(host, headers=headers_of(creds)).status_code == 401, timeout=5, what="refused")
    assert series not in env.gateway.metrics()


def test_a_deleted_last_seen_shard_comes_back_and_the_gateway_reports_into_it(env: Env) -> None:
    core = client.CoreV1Api(env.tokens.core.api_client)
    shard = shard_of(env.tokens.core.api_client, (env.tokens.ns, "used-again"))
    core.delete_namespaced_config_map(shard, OPERATOR_NAMESPACE)
    wait_for(
        lambda: (
            core.list_namespaced_config_map(OPERATOR_NAMESPACE, field_selector=f"metadata.name={shard}").items
        ),
        timeout=15,
        what="the last-seen shard recreated",
    )
    host, _ = env.app("seen-again")
    creds = env.token("used-again")
    wait_token_known(env, host, creds)
    wait_for(lambda: env.tokens.status("used-again").get("lastSeenAt"), timeout=15, what="lastSeenAt")
    data = core.read_namespaced_config_map(shard, OPERATOR_NAMESPACE).data or {}
    assert f"{env.tokens.ns}.used-again" in data


def _lifetime(assertion: str) -> int:
    claims = jwt.decode(assertion, options={"verify_signature": False})
    return int(claims["exp"]) - int(claims["iat"])


def test_a_policys_own_session_duration(env: Env) -> None:
    """Cloudflare's policy session duration: the policy that allowed decides how long the
    session lives, shorter or longer than the application's."""
    policies: list[dict[str, object]] = [
        {
            "name": "brief",
            "decision": "serviceAuth",
            "include": [{"serviceToken": {"name": "brief"}}],
            "sessionDuration": "10m",
        },
        {"name": "any", "decision": "serviceAuth", "include": [{"anyServiceToken": {}}]},
    ]
    host, _ = env.app("policy-sessions", policies, sessionDuration="2h")
    brief, other = env.token("brief"), env.token("other")
    r = wait_token_known(env, host, brief)
    assert r.status_code == 200
    assert _lifetime(r.cookies["CF_Authorization"]) == 600
    max_age = int(r.headers["Set-Cookie"].split("Max-Age=")[1].split(";")[0])
    assert 590 <= max_age <= 600
    cookie = r.cookies["CF_Authorization"]
    assert env.get(host, headers={"Cookie": f"CF_Authorization={cookie}"}).status_code == 200
    r = wait_token_known(env, host, other)
    assert _lifetime(r.cookies["CF_Authorization"]) == 2 * 3600


def test_no_session_credentials_on_every_request(env: Env) -> None:
    """sessionDuration 0: no cookie, no session JWT accepted back; the origin still gets an
    assertion for each request, valid for a minute."""
    host, aud = env.app("no-session", sessionDuration="0s")
    creds = env.token("every-time")
    r = wait_token_known(env, host, creds)
    assert r.status_code == 200
    assert "Set-Cookie" not in r.headers
    assertion = env.upstream.seen[-1]["headers"]["Cf-Access-Jwt-Assertion"]
    assert _lifetime(assertion) == 60
    assert jwt.decode(assertion, options={"verify_signature": False})["aud"] == [aud]
    for presented in ({"Cookie": f"CF_Authorization={assertion}"}, {"cf-access-token": assertion}):
        r = env.get(host, headers=presented)
        assert (r.status_code, r.json()) == (401, {"error": "session_not_accepted"})
    r = env.get(host, headers=headers_of(creds))
    assert r.status_code == 200
    assert "Set-Cookie" not in r.headers


def test_cookie_attributes_per_application(env: Env) -> None:
    """sameSite, httpOnly and pathScoped reach the Set-Cookie; the defaults stay as before."""
    host, _ = env.app("cookie-defaults")
    spec = {
        "hosts": [f"{host}/api"],
        "upstream": env.upstream.url + "/api-origin",
        "policies": ANY_TOKEN,
        "sameSite": "Strict",
        "httpOnly": False,
        "pathScoped": False,
    }
    env.apps.create("cookie-api", spec)
    env.apps.wait_aud("cookie-api")
    creds = env.token("browser")
    r = wait_token_known(env, host, creds)
    default = r.headers["Set-Cookie"]
    assert "; Path=/;" in default
    assert "HttpOnly" in default
    assert default.endswith("SameSite=Lax")
    wait_for(
        lambda: (
            env.get(host, "/api/x", headers_of(creds))
            .headers.get("Set-Cookie", "")
            .endswith("SameSite=Strict")
        ),
        timeout=5,
        what="the gateway routes /api to its own application",
    )
    api_cookie = env.get(host, "/api/x", headers_of(creds)).headers["Set-Cookie"]
    assert "; Path=/;" in api_cookie  # the whole host, not /api
    assert "HttpOnly" not in api_cookie
    assert env.upstream.seen[-1]["path"] == "/api-origin/api/x"
