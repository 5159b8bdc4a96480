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
server {{
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
  }}
  location / {{
    auth_request /_gatepass;
    auth_request_set $gatepass_jwt $upstream_http_cf_access_jwt_assertion;
    auth_request_set $gatepass_cookie $upstream_http_set_cookie;
    add_header Set-Cookie $gatepass_cookie;
    proxy_set_header Cf-Access-Jwt-Assertion $gatepass_jwt;
    proxy_set_header CF-Access-Client-Secret "";
    proxy_set_header Host $host;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_pass http://origin;
  }}
}}
"""

# Caddy's forward_auth sends a GET with the client's headers, X-Forwarded-Uri and
# X-Forwarded-Host set by Caddy; X-Forwarded-For is set here to the connection's address
# (Caddy behind no trusted proxy overwrites it too: say so, whatever its version). In
# `route`, the directives run in the order written: the client's own assertion goes
# before the check (Caddy 2.6 copies a header only when the answer has it: a bypass
# would let the client's through), its secret after. Where the answer has none (a
# bypass), Caddy 2.6 leaves its placeholder's name as the value: @unfilled removes it
# (a JWT never starts with "{"). The session cookie is not passed back (forward_auth
# copies headers onto the request only): clients send credentials each time.
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
"""


def nginx(site: Site) -> str:
    """The ``http {}`` body: nginx in front of the origin, asking gatepass."""
    return _NGINX.format(listen=site.listen, gateway=site.gateway, origin=site.origin, authorize=AUTHORIZE)


def caddy(site: Site) -> str:
    """A Caddyfile site block: Caddy in front of the origin, asking gatepass."""
    return _CADDY.format(listen=site.listen, gateway=site.gateway, origin=site.origin, authorize=AUTHORIZE)


def envoy_gateway(route: str, service: str, namespace: str, port: int) -> str:
    """An Envoy Gateway SecurityPolicy for one HTTPRoute (in the route's namespace; a
    ReferenceGrant in gatepass's lets it name the gateway's Service)."""
    return _ENVOY_GATEWAY.format(
        route=route, service=service, namespace=namespace, port=port, authorize=AUTHORIZE
    )


def istio(host: str, service: str, namespace: str, port: int) -> str:
    """Istio: the extension provider, and a CUSTOM policy sending ``host`` through it."""
    return _ISTIO.format(host=host, service=service, namespace=namespace, port=port, authorize=AUTHORIZE)


# What the README shows: gatepass as the chart installs it (release `gatepass` in
# gatepass-system), in front of one example application.
SERVICE, NAMESPACE, PORT = "gatepass-gateway", "gatepass-system", 80
GATEWAY = f"{SERVICE}.{NAMESPACE}.svc.cluster.local:{PORT}"
EXAMPLE_HOST, EXAMPLE_ORIGIN = "reports.example.com", "reports.team-a.svc.cluster.local:8080"


def readme() -> dict[str, str]:
    """Each README block, by the name its ``<!-- proxyconfigs: NAME -->`` marker gives."""
    return {
        "nginx": nginx(Site("80", GATEWAY, EXAMPLE_ORIGIN)),
        "caddy": caddy(Site(EXAMPLE_HOST, GATEWAY, EXAMPLE_ORIGIN)),
        "envoy-gateway": envoy_gateway("reports", SERVICE, NAMESPACE, PORT),
        "istio": istio(EXAMPLE_HOST, SERVICE, NAMESPACE, PORT),
    }


FENCES = {"nginx": "nginx", "caddy": "caddyfile", "envoy-gateway": "yaml", "istio": "yaml"}


def readme_markdown(name: str) -> str:
    """The marker and fenced block the README holds for ``name``."""
    return f"<!-- proxyconfigs: {name} -->\n```{FENCES[name]}\n{readme()[name]}```\n"


if __name__ == "__main__":  # python -m gatepass.proxyconfigs: the README's blocks
    print("\n".join(readme_markdown(name) for name in readme()))
