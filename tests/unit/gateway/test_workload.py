"""Projected ServiceAccount tokens: signature, claims and binding, checked as the API
server's TokenReview would, from what the gateway watches."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from gatepass.gateway.refusals import InvalidSession, Reason
from gatepass.gateway.workload import Pod, Workload, WorkloadTokens, audiences
from tests.support.serviceaccounts import KUBE_ISSUER, Issuer

AUD = "https://access.test"  # the gateway's audience: applications' are under it
APP = ("team-a", "reports")  # the application asked for, in the pods' namespace
FOR_APP = f"{AUD}/team-a/reports"
BOUND = {"namespace": "team-a", "serviceaccount": {"name": "reporter", "uid": "sa-uid-1"}}


class AppIssuer(Issuer):
    def token(self, *args: Any, **kw: Any) -> str:
        """Issuer.token, for the application APP unless ``aud`` says otherwise."""
        return super().token(*args, **{"aud": FOR_APP, **kw})


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    i = AppIssuer()
    i.add_rsa("rsa-1")
    i.add_ec("ec-1")
    return i


def verify(w: WorkloadTokens, token: str, now: float | None = None, app: tuple[str, str] = APP) -> Workload:
    return w.verify(token, time.time() if now is None else now, *app)


def tokens(issuer: Issuer, **extra: Any) -> WorkloadTokens:
    """The gateway's view: the issuer's keys, the account and the pod of Issuer.token()."""
    w = WorkloadTokens((AUD,), **extra)
    w.set_issuer(issuer.issuer, issuer.jwks())
    w.set_accounts({("team-a", "reporter"): "sa-uid-1"})
    w.set_pods({"pod-uid-1": Pod("team-a")})
    return w


def reason(w: WorkloadTokens, token: str, now: float | None = None, app: tuple[str, str] = APP) -> str:
    with pytest.raises(InvalidSession) as e:
        verify(w, token, now, app)
    return e.value.reason


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
def test_a_pod_bound_token_names_its_account_and_pod(issuer: Issuer, kid: str) -> None:
    who = verify(tokens(issuer), issuer.token(kid=kid))
    assert (who.namespace, who.name, who.pod, who.pod_uid) == (
        "team-a",
        "reporter",
        "reporter-7d9",
        "pod-uid-1",
    )
    assert who.subject == "system:serviceaccount:team-a:reporter"


def test_a_token_from_the_token_request_api_without_a_pod_needs_only_its_account(issuer: Issuer) -> None:
    w = tokens(issuer)
    assert verify(w, issuer.token(pod=None)).pod is None
    w.put_account(("team-a", "reporter"), None)
    assert reason(w, issuer.token(pod=None)) == "service_account_gone"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"aud": "https://kubernetes.default.svc.cluster.local"}, "wrong_audience"),  # a pod's API token
        ({"aud": ["https://other.example"]}, "wrong_audience"),
        ({"aud": None}, "wrong_audience"),
        ({"iss": "https://evil.example"}, "invalid_service_account_token"),
        ({"exp": lambda now: now - 10}, "service_account_token_expired"),
        ({"exp": None}, "invalid_service_account_token"),
        ({"nbf": lambda now: now + 600}, "invalid_service_account_token"),
        ({"sub": "system:serviceaccount:team-a:admin"}, "invalid_service_account_token"),
        ({"kubernetes.io": None}, "invalid_service_account_token"),
        ({"kubernetes.io": {"namespace": "team-a"}}, "invalid_service_account_token"),
        ({"kubernetes.io": {**BOUND, "secret": {"name": "s", "uid": "u"}}}, "unsupported_binding"),
        ({"kubernetes.io": {**BOUND, "node": {"name": "n", "uid": "u"}}}, "unsupported_binding"),
    ],
)  # fmt: skip
def test_claims_that_do_not_hold_are_refused(
    issuer: Issuer, overrides: dict[str, Any], expected: str
) -> None:
    # Times are relative (a callable of now) and resolved here, when the test runs: a time
    # computed at collection is stale by the time a long suite reaches this test.
    now = int(time.time())
    claims = {k: v(now) if callable(v) else v for k, v in overrides.items()}
    assert reason(tokens(issuer), issuer.token(**claims)) == expected


def test_a_signature_by_another_key_or_algorithm_is_refused(issuer: Issuer) -> None:
    w = tokens(issuer)
    stranger = Issuer()
    stranger.add_rsa("rsa-1")  # same kid, another key
    assert reason(w, stranger.token()) == "invalid_service_account_token"
    stranger.add_rsa("rsa-9")
    assert reason(w, stranger.token(kid="rsa-9")) == Reason.UNKNOWN_SERVICE_ACCOUNT_KEY
    # The public key used as an HMAC secret (the classic confusion): the alg must be the key's.
    forged = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": "rsa-1"})
    assert reason(w, forged) == "bad_algorithm"
    assert reason(w, "not a jwt") == "malformed_jwt"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda w, now: w.put_pod("pod-uid-1", None), "pod_gone"),
        (lambda w, now: w.put_pod("pod-uid-1", Pod("team-b")), "pod_gone"),  # a uid from another namespace
        (lambda w, now: w.put_pod("pod-uid-1", Pod("team-a", deleting_since=now - 61)), "pod_gone"),
        (lambda w, now: w.put_account(("team-a", "reporter"), None), "service_account_gone"),
        (lambda w, now: w.put_account(("team-a", "reporter"), "sa-uid-2"), "service_account_gone"),  # anew
    ],
)
def test_a_token_stops_working_once_what_it_is_bound_to_is_gone(
    issuer: Issuer, change: Any, expected: str
) -> None:
    w, token = tokens(issuer), issuer.token()
    verify(w, token)  # verified once, cached: the binding is still checked each time
    change(w, time.time())  # the clock read here, when the test runs
    assert reason(w, token) == expected


def test_a_pod_being_deleted_vouches_for_a_minute(issuer: Issuer) -> None:
    w, token = tokens(issuer), issuer.token()
    w.put_pod("pod-uid-1", Pod("team-a", deleting_since=time.time() - 30))
    assert verify(w, token).pod == "reporter-7d9"


def test_a_cached_token_still_expires_and_still_needs_its_key(issuer: Issuer) -> None:
    w, token = tokens(issuer), issuer.token(lifetime=60)
    verify(w, token)
    assert reason(w, token, now=time.time() + 61) == "service_account_token_expired"
    rotated = Issuer(keys={"ec-1": issuer.keys["ec-1"]})  # the issuer dropped rsa-1
    w.set_issuer(issuer.issuer, rotated.jwks())
    assert reason(w, token) == Reason.UNKNOWN_SERVICE_ACCOUNT_KEY


def test_nothing_is_accepted_before_the_issuer_is_known_and_another_issuer_forgets_the_cache(
    issuer: Issuer,
) -> None:
    w = WorkloadTokens((AUD,))
    assert not w.ready
    assert reason(w, issuer.token()) == "service_accounts_unavailable"
    w = tokens(issuer)
    token = issuer.token()
    verify(w, token)
    w.set_issuer("https://elsewhere.example", issuer.jwks())
    assert reason(w, token) == "invalid_service_account_token"


def test_unusable_keys_in_the_set_are_skipped(issuer: Issuer) -> None:
    jwks = issuer.jwks()
    jwks["keys"] += [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"}, {"kty": "nope"}, "junk"]
    w = WorkloadTokens((AUD,))
    w.set_issuer(KUBE_ISSUER, jwks)
    assert set(w.keys) == {"rsa-1", "ec-1"}


def test_the_cache_is_bounded(issuer: Issuer) -> None:
    w = tokens(issuer, cache_size=3)
    for i in range(5):
        verify(w, issuer.token(jti=f"j{i}"))
    assert len(w._cache) == 3


def test_any_of_several_audiences(issuer: Issuer) -> None:
    w = WorkloadTokens((AUD, "gatepass/"))
    w.set_issuer(issuer.issuer, issuer.jwks())
    w.set_accounts({("team-a", "reporter"): "sa-uid-1"})
    w.set_pods({"pod-uid-1": Pod("team-a")})
    assert verify(w, issuer.token(aud="gatepass/team-a/reports")).name == "reporter"
    assert verify(w, issuer.token(aud="gatepass/reports")).name == "reporter"


def test_an_application_audience_names_one_application() -> None:
    assert audiences("https://gp.example/", "team-a", "reports") == (
        "https://gp.example/team-a/reports",
        "https://gp.example/reports",
    )


@pytest.mark.parametrize(
    ("aud", "app", "expected"),
    [
        (FOR_APP, APP, None),
        (f"{AUD}/reports", APP, None),  # the short form: the application in the pod's namespace
        ([f"{AUD}/team-a/other", FOR_APP], APP, None),  # one of several
        (FOR_APP, ("team-a", "other"), "wrong_audience"),  # minted for another application
        (FOR_APP, ("team-b", "reports"), "wrong_audience"),  # the same name elsewhere
        (f"{AUD}/reports", ("team-b", "reports"), "wrong_audience"),  # short: the pod's namespace only
        (f"{AUD}/team-b/reports", ("team-b", "reports"), None),  # another namespace's, named in full
        (AUD, APP, "wrong_audience"),  # the bare gateway audience: every application once, none now
        (f"{AUD}/team-a/reports/x", APP, "wrong_audience"),
        (f"{AUD}x/team-a/reports", APP, "wrong_audience"),
    ],
)
def test_a_token_is_for_the_application_its_audience_names(
    issuer: Issuer, aud: str | list[str], app: tuple[str, str], expected: str | None
) -> None:
    w = tokens(issuer)
    token = issuer.token(aud=aud)
    if expected is None:
        assert verify(w, token, app=app).name == "reporter"
    else:
        assert reason(w, token, app=app) == expected


def test_a_token_verified_for_one_application_is_still_refused_at_another(issuer: Issuer) -> None:
    """The cache is by token; the application is checked on every request."""
    w, token = tokens(issuer), issuer.token()
    verify(w, token)
    assert reason(w, token, app=("team-a", "other")) == "wrong_audience"
    assert verify(w, token).name == "reporter"
