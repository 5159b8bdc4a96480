"""The names Cloudflare Access gives its headers and cookie, which clients and origins
already use; shared by the request checks, the records and the proxy."""

CLIENT_ID_HEADER = "CF-Access-Client-Id"
CLIENT_SECRET_HEADER = "CF-Access-Client-Secret"  # noqa: S105 - a header name
TOKEN_HEADER = "cf-access-token"  # noqa: S105 - a header name
COOKIE = "CF_Authorization"
ASSERTION_HEADER = "Cf-Access-Jwt-Assertion"
AUTHORIZATION = "Authorization"
JSON_CLIENT_ID = "cf-access-client-id"  # the keys of the one-header JSON, as Cloudflare's
JSON_CLIENT_SECRET = "cf-access-client-secret"  # noqa: S105 - a key name
