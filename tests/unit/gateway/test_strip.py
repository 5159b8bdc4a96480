"""Credentials told by their shape, whatever header carries them (gateway/strip.py)."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from gatepass.gateway.strip import MAX_JWTS, cookies, is_credential
from gatepass.trust.credentials import new_client_id, new_client_secret

SECRET = new_client_secret()
CLIENT_ID = new_client_id()
GATEWAY = "https://access.test"
KUBE = "https://kubernetes.default.svc.cluster.local"
ISSUERS = (GATEWAY, KUBE)


def signed(claims: dict[str, object]) -> str:
    return jwt.encode(claims, "k" * 32, algorithm="HS256")  # only the shape is read


PROJECTED = signed(
    {"iss": "https://elsewhere", "aud": ["x"], "kubernetes.io": {"namespace": "team-b"}, "sub": "s"}
)
LEGACY = signed({"iss": "kubernetes/serviceaccount", "kubernetes.io/serviceaccount/namespace": "team-b"})
SESSION = signed({"iss": GATEWAY, "aud": ["a" * 64], "common_name": CLIENT_ID})
BY_CLUSTER = signed({"iss": KUBE, "sub": "system:serviceaccount:team-b:x"})
OTHERS = signed({"iss": "https://idp.example", "sub": "alice"})


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


CREDENTIALS = {
    "a bare secret": SECRET,
    "a secret in text": f"token={SECRET}; more",
    "the one-header JSON": json.dumps({"cf-access-client-id": CLIENT_ID, "cf-access-client-secret": SECRET}),
    "the JSON, secret escaped": '{"cf-access-client-secret": "\\u0067' + SECRET[1:] + '"}',
    "the JSON, secret mangled": json.dumps({"cf-access-client-secret": "not yet"}),
    "Basic": basic(f"{CLIENT_ID}:{SECRET}"),
    "Basic, lower case, unpadded": "basic " + basic(f"{CLIENT_ID}:{SECRET}x")[6:].rstrip("="),
    "Bearer secret": f"Bearer {SECRET}",
    "a projected token": f"Bearer {PROJECTED}",
    "a legacy token": LEGACY,
    "a token of the cluster's issuer": f"Bearer {BY_CLUSTER}",
    "a session of the gateway's": f"Bearer {SESSION}",
}  # fmt: skip
NOT_CREDENTIALS = {
    "text": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.6099.71",
    "a Client ID": CLIENT_ID,
    "an origin's bearer": "Bearer opaque-token",
    "an origin's JWT": f"Bearer {OTHERS}",
    "Basic, another password": basic("alice:hunter2"),
    "Basic, not base64": "Basic !!!",
    "a CORS preflight": "cf-access-client-id, cf-access-client-secret",
    "JSON of something else": json.dumps({"cf-access-client-id": CLIENT_ID}),
    "a near-secret": "gpst_" + "A" * 49,
    "JWT-like junk": "eyJ.eyJ.x eyJhbGciOi.!!.x",
}


@pytest.mark.parametrize("value", CREDENTIALS.values(), ids=CREDENTIALS.keys())
def test_credentials_are_told_by_their_shape(value: str) -> None:
    assert is_credential(value, ISSUERS)


@pytest.mark.parametrize("value", NOT_CREDENTIALS.values(), ids=NOT_CREDENTIALS.keys())
def test_what_is_not_a_credential_is_left_alone(value: str) -> None:
    assert not is_credential(value, ISSUERS)


def test_a_token_without_iss_is_no_credential_when_an_issuer_is_unknown() -> None:
    # Workload identity off: the cluster's issuer is None, which a token without iss must not match.
    assert not is_credential(signed({"sub": "x"}), (GATEWAY, None))
    assert is_credential(PROJECTED, ())  # the kubernetes.io claim is enough on its own


def test_a_header_of_many_jwt_like_words_is_looked_into_only_so_far() -> None:
    junk = " ".join([signed({"sub": str(i)}) for i in range(MAX_JWTS)])
    assert not is_credential(f"{junk} {PROJECTED}", ISSUERS)
    assert is_credential(f"{PROJECTED} {junk}", ISSUERS)


@pytest.mark.parametrize(
    ("line", "keep", "expected"),
    [
        ("theme=dark; lang=en", None, "theme=dark; lang=en"),
        (f"theme=dark; CF_Authorization={SESSION}; lang=en", None, "theme=dark; lang=en"),
        (f"CF_Authorization={SESSION}", None, ""),
        (f'CF_Authorization="{SESSION}"; theme=dark', SESSION, f'CF_Authorization="{SESSION}"; theme=dark'),
        (f"CF_Authorization=other; CF_Authorization={SESSION}", SESSION, f"CF_Authorization={SESSION}"),
        (f"cf_authorization={SESSION}; a=1", None, "a=1"),
        (f"api={SECRET}; pod={PROJECTED}; a=1; sid={OTHERS}", None, f"a=1; sid={OTHERS}"),
    ],
)
def test_cookies_keep_only_the_assertion_and_what_is_no_credential(
    line: str, keep: str | None, expected: str
) -> None:
    assert cookies(line, keep, ISSUERS) == expected
