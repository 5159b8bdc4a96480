"""The names Cloudflare Access gives its headers and cookie, which clients and origins
already use; shared by the request checks, the records and the proxy."""

from gatepass.contract import CLIENT_ID_HEADER as CLIENT_ID_HEADER
from gatepass.contract import CLIENT_SECRET_HEADER as CLIENT_SECRET_HEADER

TOKEN_HEADER = "cf-access-token"  # noqa: S105 - a header name
COOKIE = "CF_Authorization"
ASSERTION_HEADER = "Cf-Access-Jwt-Assertion"
AUTHORIZATION = "Authorization"
JSON_CLIENT_ID = "cf-access-client-id"  # the keys of the one-header JSON, as Cloudflare's
JSON_CLIENT_SECRET = "cf-access-client-secret"  # noqa: S105 - a key name
COOKIE_HEADER = "Cookie"
# Forward-auth: the original request's host and path, as ingress controllers send them
# (Traefik and Caddy X-Forwarded-Uri; nginx auth_request: set X-Original-URI).
FORWARDED_HOST = "X-Forwarded-Host"
FORWARDED_URIS = ("X-Forwarded-Uri", "X-Original-URI")
FORWARDED_FOR = "X-Forwarded-For"  # read only behind trusted proxies (routing/clientip.py)
