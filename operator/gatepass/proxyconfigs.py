"""Every proxy configuration gatepass documents, in one place: the README shows what
these render for a cluster (tests/chart/test_readme.py holds it to that), the e2e tests
run nginx and Caddy on what they render for loopback, and the benchmark measures the
nginx one. Envoy's are rendered for the README only: no Envoy runs here.

Each puts gatepass's forward-auth endpoint in front of one origin, and each does what
the endpoint relies on the proxy for: it names the original host and URI itself (a
client's own X-Forwarded-Host/-Uri never reach the check), it sets X-Forwarded-For to
the address it saw (gatepass trusts the proxy's), it forwards only what gatepass
allows, and it removes the client's secret and any client-sent assertion on the way
to the origin. Standard library only (the bottom layer: pure text).
"""

from __future__ import annotations

from dataclasses import dataclass

AUTHORIZE = "/cdn-cgi/access/authorize"


@dataclass(frozen=True)
class Site:
    """Where the proxy listens, and the gatepass gateway and the origin it talks to
    (``host:port``). ``listen`` is the proxy's own syntax: nginx's ``listen``
    parameters, Caddy's site address."""

    listen: str
    gateway: str
    origin: str
    # nginx: where it keeps the checks' answers (None: it asks gatepass on every request).
    # Cache entries name the session they belong to: keep them in memory (tmpfs).
    cache: str | None = None


# nginx asks gatepass (auth_request) and forwards only what it allows, with the assertion;
# the client's secret never reaches the origin. Keep-alive to both, as a production ingress.
# The subrequest carries the client's own headers: whatever gatepass reads from nginx is set
# here, X-Forwarded-For included, or a client writes it (nginx being a trusted proxy, its
# X-Forwarded-For is the client's address to IP rules). $remote_addr: nginx faces clients;
# behind a load balancer, $proxy_add_x_forwarded_for, with the balancer's addresses in
# gateway.trustedProxies too (and nginx's set_real_ip_from left off, or $remote_addr is a
# header's value).
_NGINX = """upstream gatepass {{ server {gateway}; keepalive 64; }}
upstream origin {{ server {origin}; keepalive 64; }}
{cache_http}server {{
  listen {listen};
  location = /_gatepass {{
    internal;
    proxy_pass http://gatepass{authorize};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header X-Forwarded-Host $host;
    proxy_set_header X-Forwarded-Uri $request_uri;
    proxy_set_header X-Forwarded-For $remote_addr;
{cache_check}  }}
  location / {{
    auth_request /_gatepass;
    auth_request_set $gatepass_jwt $upstream_http_cf_access_jwt_assertion;
    auth_request_set $gatepass_cookie $upstream_http_set_cookie;
    add_header Set-Cookie $gatepass_cookie;
    proxy_set_header Cf-Access-Jwt-Assertion $gatepass_jwt;
    proxy_set_header CF-Access-Client-Secret "";
    proxy_set_header Cf-Access-Token "";
    proxy_set_header Host $host;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_pass http://origin;
  }}
}}
"""

# The check's answer reused (gateway/reuse.py): gatepass marks an admission by a session
# reusable for a second (gateway.authorizeCacheSeconds), never past the session's exp, and
# everything else not at all (X-Accel-Expires, nginx's own header, alone is read: it counts
# whole seconds as gatepass does; no proxy_cache_valid, so an answer without it is never
# kept; nor one that sets a cookie). The key holds everything the check reads: the host, the
# raw path (nginx cannot know which application's prefix it falls under), the address sent
# as X-Forwarded-For (change both together), and the session itself, cf-access-token and
# every cookie: only its holder is ever answered from the cache. Requests without a session,
# or with credentials, skip the cache (gatepass answers them no-store anyway). The entries
# hold the sessions: keep `cache` in memory (a tmpfs; in a pod an emptyDir with medium
# Memory); proxy_cache_use_stale stays off, so no entry outlives gatepass's answer.
_NGINX_CACHE_HTTP = """proxy_cache_path {cache} levels=1 keys_zone=gatepass_checks:10m max_size=64m
                 inactive=10s use_temp_path=off;
map $request_uri $gatepass_path {{ "~^(?<p>[^?]*)" $p; }}
map "$http_cf_access_token$cookie_CF_Authorization" $gatepass_no_session {{ "" 1; default 0; }}
map "$http_cf_access_client_id$http_cf_access_client_secret$http_authorization" $gatepass_credentials {{
  "" 0;
  default 1;
}}
"""
_NGINX_CACHE = """    proxy_cache gatepass_checks;
    proxy_cache_key "$host|$gatepass_path|$remote_addr|$http_cf_access_token|$http_cookie";
    proxy_cache_bypass $gatepass_no_session $gatepass_credentials;
    proxy_no_cache $gatepass_no_session $gatepass_credentials;
    proxy_ignore_headers Cache-Control Expires;
"""

# Caddy's forward_auth sends a GET with the client's headers, X-Forwarded-Uri and
# X-Forwarded-Host set by Caddy; X-Forwarded-For is set here to the connection's address
# (Caddy behind no trusted proxy overwrites it too: say so, whatever its version). In
# `route`, the directives run in the order written: the client's own assertion goes
# before the check (Caddy 2.6 copies a header only when the answer has it: a bypass
# would let the client's through), its secret after. Where the answer has none (a
# bypass), Caddy 2.6 leaves its placeholder's name as the value: @unfilled removes it
# (a JWT never starts with "{"). The session cookie is not passed back (forward_auth
# copies headers onto the request only): clients send credentials each time. Nor can
# Caddy reuse an answer: forward_auth has no cache, every request is checked.
_CADDY = """{listen} {{
\troute {{
\t\trequest_header -Cf-Access-Jwt-Assertion
\t\tforward_auth {gateway} {{
\t\t\turi {authorize}
\t\t\theader_up X-Forwarded-Host {{host}}
\t\t\theader_up X-Forwarded-For {{remote_host}}
\t\t\tcopy_headers Cf-Access-Jwt-Assertion
\t\t}}
\t\t@unfilled header_regexp Cf-Access-Jwt-Assertion ^[{{]
\t\trequest_header @unfilled -Cf-Access-Jwt-Assertion
\t\trequest_header -CF-Access-Client-Secret
\t\trequest_header -Cf-Access-Token
\t\treverse_proxy {origin}
\t}}
}}
"""

# Envoy's HTTP ext_authz appends the original path to `path`; it sends the original
# :authority as Host and only the headers listed (plus its own). Not run here.
_ENVOY_GATEWAY = """apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata:
  name: gatepass
spec:
  targetRefs:
  - group: gateway.networking.k8s.io
    kind: HTTPRoute
    name: {route}
  extAuth:
    headersToExtAuth:
    - cf-access-client-id
    - cf-access-client-secret
    - cf-access-token
    - cookie
    - authorization
    - x-forwarded-for
    http:
      backendRefs:
      - name: {service}
        namespace: {namespace}
        port: {port}
      path: {authorize}
      headersToBackend:
      - cf-access-jwt-assertion
---
# The route: the client's secret and session header end here (after the check).
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {route}
spec:
  parentRefs: [{{name: eg}}]
  hostnames: ["{host}"]
  rules:
  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        remove: [{removed}]
    backendRefs: [{{name: {origin_service}, port: {origin_port}}}]
"""

_ISTIO = """# meshConfig (istioctl / the istiod chart's values)
extensionProviders:
- name: gatepass
  envoyExtAuthzHttp:
    service: {service}.{namespace}.svc.cluster.local
    port: {port}
    pathPrefix: {authorize}
    includeRequestHeadersInCheck:
    - cf-access-client-id
    - cf-access-client-secret
    - cf-access-token
    - cookie
    - authorization
    - x-forwarded-for
    headersToUpstreamOnAllow:
    - cf-access-jwt-assertion
    headersToDownstreamOnAllow:
    - set-cookie
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: gatepass
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  action: CUSTOM
  provider:
    name: gatepass
  rules:
  - to:
    - operation:
        hosts: ["{host}"]
---
# The route: the client's secret and session header end here (after the check).
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {origin_service}
spec:
  hosts: ["{host}"]
  gateways: ["istio-system/ingressgateway"]
  http:
  - headers:
      request:
        remove: [{removed}]
    route:
    - destination: {{host: {origin_host}, port: {{number: {origin_port}}}}}
"""


def nginx(site: Site) -> str:
    """The ``http {}`` body: nginx in front of the origin, asking gatepass (and keeping its
    answers in ``site.cache``, where set)."""
    http, check = (
        ("", "") if site.cache is None else (_NGINX_CACHE_HTTP.format(cache=site.cache), _NGINX_CACHE)
    )
    return _NGINX.format(
        listen=site.listen,
        gateway=site.gateway,
        origin=site.origin,
        authorize=AUTHORIZE,
        cache_http=http,
        cache_check=check,
    )


def caddy(site: Site) -> str:
    """A Caddyfile site block: Caddy in front of the origin, asking gatepass."""
    return _CADDY.format(listen=site.listen, gateway=site.gateway, origin=site.origin, authorize=AUTHORIZE)


# What no origin may receive: the client's secret and its session header (nginx and Caddy
# above remove the same). Envoy applies a route's header removal after ext_authz has read them.
REMOVED = ("CF-Access-Client-Secret", "Cf-Access-Token")


def _mesh(template: str, host: str, origin: str, service: str, namespace: str, port: int, **more: str) -> str:
    """An Envoy-based configuration: the check at gatepass's ``service`` in ``namespace``,
    the route to ``origin`` (``host:port``) removing the credentials."""
    origin_host, _, origin_port = origin.partition(":")
    return template.format(
        host=host,
        origin_host=origin_host,
        origin_service=origin_host.partition(".")[0],
        origin_port=origin_port,
        removed=", ".join(REMOVED),
        service=service,
        namespace=namespace,
        port=port,
        authorize=AUTHORIZE,
        **more,
    )


def envoy_gateway(route: str, host: str, origin: str, service: str, namespace: str, port: int) -> str:
    """An Envoy Gateway SecurityPolicy for one HTTPRoute (in the route's namespace; a
    ReferenceGrant in gatepass's lets it name the gateway's Service), and that route
    (to the ``origin`` Service, ``name:port``), removing the credentials."""
    return _mesh(_ENVOY_GATEWAY, host, origin, service, namespace, port, route=route)


def istio(host: str, origin: str, service: str, namespace: str, port: int) -> str:
    """Istio: the extension provider, a CUSTOM policy sending ``host`` through it, and
    its VirtualService to ``origin`` (``host:port``), removing the credentials."""
    return _mesh(_ISTIO, host, origin, service, namespace, port)


# What the README shows: gatepass as the chart installs it (release `gatepass` in
# gatepass-system), in front of one example application.
SERVICE, NAMESPACE, PORT = "gatepass-gateway", "gatepass-system", 80
GATEWAY = f"{SERVICE}.{NAMESPACE}.svc.cluster.local:{PORT}"
EXAMPLE_HOST, EXAMPLE_ORIGIN = "reports.example.com", "reports.team-a.svc.cluster.local:8080"
# The entries hold sessions: a tmpfs there (in a pod, an emptyDir with medium: Memory).
NGINX_CACHE = "/var/cache/nginx/gatepass-checks"


def readme() -> dict[str, str]:
    """Each README block, by the name its ``<!-- proxyconfigs: NAME -->`` marker gives."""
    return {
        "nginx": nginx(Site("80", GATEWAY, EXAMPLE_ORIGIN, NGINX_CACHE)),
        "caddy": caddy(Site(EXAMPLE_HOST, GATEWAY, EXAMPLE_ORIGIN)),
        "envoy-gateway": envoy_gateway("reports", EXAMPLE_HOST, "reports:8080", SERVICE, NAMESPACE, PORT),
        "istio": istio(EXAMPLE_HOST, EXAMPLE_ORIGIN, SERVICE, NAMESPACE, PORT),
    }


FENCES = {"nginx": "nginx", "caddy": "caddyfile", "envoy-gateway": "yaml", "istio": "yaml"}


def readme_markdown(name: str) -> str:
    """The marker and fenced block the README holds for ``name``."""
    return f"<!-- proxyconfigs: {name} -->\n```{FENCES[name]}\n{readme()[name]}```\n"


if __name__ == "__main__":  # python -m gatepass.proxyconfigs: the README's blocks
    print("\n".join(readme_markdown(name) for name in readme()))
