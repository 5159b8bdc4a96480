"""``readServiceTokensFromHeader: Authorization`` (Cloudflare's own example): what each shape
of ``Authorization`` value is, at each combination of the application's options."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from multidict import CIMultiDict

from gatepass.gateway.auth import identify
from gatepass.gateway.keyring import KeyRing
from gatepass.gateway.refusals import Refused
from gatepass.gateway.sessions import Sessions
from gatepass.gateway.state import AppRecord
from gatepass.gateway.workload import WorkloadTokens
from gatepass.trust import signing
from gatepass.trust.credentials import new_client_secret
from tests.support.serviceaccounts import Issuer
from tests.unit.gateway.test_auth import ISSUER, SECRET, TOKEN, TOKENS, app

POLICY = {
    "decision": "serviceAuth",
    "include": [{"serviceToken": {"name": "ci"}}, {"serviceAccount": {"name": "reporter"}}],
}
JSON = {"credentials_header": "Authorization"}
BASIC = {"basic_auth": True}
ACCOUNTS = {"admits_service_accounts": True}  # a policy names ServiceAccounts
APPS: dict[str, AppRecord] = {
    "none": app(POLICY),
    "json": app(POLICY, **JSON),
    "json, spelled otherwise": app(POLICY, credentials_header="AUTHORIZATION"),
    "basic": app(POLICY, **BASIC),
    "json+basic": app(POLICY, **JSON, **BASIC),
    "json+accounts": app(POLICY, **JSON, **ACCOUNTS),
    "all": app(POLICY, **JSON, **BASIC, **ACCOUNTS),
}
READS_JSON = {"json", "json, spelled otherwise", "json+basic", "json+accounts", "all"}
READS_BASIC = {"basic", "json+basic", "all"}
READS_BEARER = {"json+accounts", "all"}

KUBE = Issuer()
KUBE.add_ec("k")
GOOD = {"cf-access-client-id": TOKEN.client_id, "cf-access-client-secret": SECRET}
BASIC_GOOD = "Basic " + base64.b64encode(f"{TOKEN.client_id}:{SECRET}".encode()).decode()
BEARER = "Bearer " + KUBE.token(namespace="ns", aud=f"{ISSUER}/ns/app", pod=None)

# (what Authorization holds, [its values], {applications reading it: the outcome}); every
# other application: "nobody" (the request is weighed without it, never refused for it).
SHAPES: list[tuple[str, list[str], dict[str, str]]] = [
    ("the JSON", [json.dumps(GOOD)], dict.fromkeys(READS_JSON, "token")),
    ("the JSON, spaced", ["  " + json.dumps(GOOD, indent=1)], dict.fromkeys(READS_JSON, "token")),
    (
        "the JSON, broken",
        ['{"cf-access-client-id": '],
        dict.fromkeys(READS_JSON, "401 malformed_credentials"),
    ),
    (
        "the JSON, Cloudflare's keys in another case",
        [json.dumps({"CF-Access-Client-Id": TOKEN.client_id, "CF-Access-Client-Secret": SECRET})],
        dict.fromkeys(READS_JSON, "401 malformed_credentials"),
    ),
    (
        "the JSON, a wrong secret",
        [json.dumps({**GOOD, "cf-access-client-secret": new_client_secret()})],
        dict.fromkeys(READS_JSON, "401 invalid_credentials"),
    ),
    ("Basic", [BASIC_GOOD], dict.fromkeys(READS_BASIC, "token")),
    ("a ServiceAccount's Bearer", [BEARER], dict.fromkeys(READS_BEARER, "account")),
    ("another scheme", ["Digest username=ci"], {}),
    ("a bare word", ["origin-api-key"], {}),
    ("a JSON list", [json.dumps([TOKEN.client_id, SECRET])], {}),  # not an object: not the JSON
    (
        "the JSON and Bearer",
        [json.dumps(GOOD), BEARER],
        dict.fromkeys(READS_JSON | READS_BEARER, "401 duplicate_credentials"),
    ),
    (
        "the JSON twice",
        [json.dumps(GOOD)] * 2,
        dict.fromkeys(READS_JSON, "401 duplicate_credentials"),
    ),
]
CASES = [
    pytest.param(values, name, expected.get(name, "nobody"), id=f"{shape} at {name}")
    for shape, values, expected in SHAPES
    for name in APPS
]


@pytest.fixture(scope="module")
def sessions() -> Sessions:
    ring = KeyRing()
    ring.set(signing.load(signing.to_secret_data([signing.generate(datetime.now(UTC), ISSUER)])))
    return Sessions(ISSUER, ring)


@pytest.fixture(scope="module")
def workloads() -> WorkloadTokens:
    w = WorkloadTokens((ISSUER,))
    w.set_issuer(KUBE.issuer, KUBE.jwks())
    w.set_accounts({("ns", "reporter"): "sa-uid-1"})
    return w


def outcome(sent: CIMultiDict[str], at: AppRecord, sessions: Sessions, workloads: WorkloadTokens) -> str:
    try:
        caller = identify(sent, at, TOKENS, sessions, time.time(), workloads)
    except Refused as e:
        return f"{e.status} {e.reason}"
    return "token" if caller.token else "account" if caller.workload else "nobody"


@pytest.mark.parametrize(("values", "application", "expected"), CASES)
def test_authorization_is_read_by_its_shape(
    values: list[str], application: str, expected: str, sessions: Sessions, workloads: WorkloadTokens
) -> None:
    sent = CIMultiDict(("Authorization", v) for v in values)
    assert outcome(sent, APPS[application], sessions, workloads) == expected


def test_the_json_in_authorization_is_one_way_of_sending_credentials(
    sessions: Sessions, workloads: WorkloadTokens
) -> None:
    """Beside the two headers it is two ways at once: refused, as for any other name."""
    both = CIMultiDict(
        [
            ("Authorization", json.dumps(GOOD)),
            ("CF-Access-Client-Id", TOKEN.client_id),
            ("CF-Access-Client-Secret", SECRET),
        ]
    )
    assert outcome(both, APPS["json"], sessions, workloads) == "401 duplicate_credentials"
    # An Authorization of another shape is no credential: the two headers decide alone.
    other = CIMultiDict([("Authorization", "Bearer origin"), *list(both.items())[1:]])
    assert outcome(other, APPS["json"], sessions, workloads) == "token"


def test_an_application_reading_authorization_keeps_it_from_its_origin() -> None:
    """Whatever the value's shape (gateway/proxy.py strips these names)."""
    for name in READS_JSON | READS_BASIC | READS_BEARER:
        assert "authorization" in APPS[name].credential_headers
    assert "authorization" not in APPS["none"].credential_headers
