"""What an application's session settings do: how long a minted JWT lives (the allowing
policy's sessionDuration over the application's, a minute where it keeps no session), and
the attributes of the CF_Authorization cookie."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from yarl import URL

from gatepass.decisions.policy import evaluate
from gatepass.gateway.sessions import set_cookie
from gatepass.gateway.state import NO_SESSION_ASSERTION, AppRecord, app_record
from gatepass.models.accessapplication import Policy, Rule, ServiceTokenRef


def record(
    session: float = 3600.0, policy_sessions: tuple[float | None, ...] = (), **fields: object
) -> AppRecord:
    base = AppRecord("ns", "a", ("a.test",), URL("http://up"), session, [], policy_sessions=policy_sessions)
    return replace(base, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("app_seconds", "per_policy", "index", "lifetime"),
    [
        (3600, (), None, 3600),  # no policy named: the application's
        (3600, (None, 600.0), 0, 3600),  # the allowing policy sets none: the application's
        (3600, (None, 600.0), 1, 600),  # shorter than the application's
        (3600, (None, 86400.0), 1, 86400),  # longer: the policy's still (Cloudflare: it overrides)
        (3600, (600.0,), 5, 3600),  # an index past the list (a stale record): the application's
        (0, (600.0,), 0, NO_SESSION_ASSERTION),  # no session: one minute, whatever the policy
    ],
)
def test_lifetime(
    app_seconds: float, per_policy: tuple[float | None, ...], index: int | None, lifetime: float
) -> None:
    assert record(app_seconds, per_policy).lifetime(index) == lifetime


@pytest.mark.parametrize(
    ("fields", "keeps"),
    [({}, True), ({"strict": True}, False), ({"session": 0.0}, False)],
)
def test_which_applications_keep_sessions(fields: dict[str, Any], keeps: bool) -> None:
    assert record(**fields).keeps_sessions is keeps


@pytest.mark.parametrize(
    ("fields", "cookie"),
    [
        ({}, "CF_Authorization=J; Max-Age=60; Path=/admin; HttpOnly; Secure; SameSite=Lax"),
        (
            {"same_site": "Strict"},
            "CF_Authorization=J; Max-Age=60; Path=/admin; HttpOnly; Secure; SameSite=Strict",
        ),
        (
            {"same_site": "None"},
            "CF_Authorization=J; Max-Age=60; Path=/admin; HttpOnly; Secure; SameSite=None",
        ),
        ({"http_only": False}, "CF_Authorization=J; Max-Age=60; Path=/admin; Secure; SameSite=Lax"),
        ({"path_scoped": False}, "CF_Authorization=J; Max-Age=60; Path=/; HttpOnly; Secure; SameSite=Lax"),
    ],
)
def test_cookie_attributes(fields: dict[str, Any], cookie: str) -> None:
    assert set_cookie("J", 60, "/admin", record(**fields), secure=True) == cookie


def test_no_secure_where_the_gateway_is_told_so() -> None:
    assert (
        set_cookie("J", 60, "/", record(), secure=False)
        == "CF_Authorization=J; Max-Age=60; Path=/; HttpOnly; SameSite=Lax"
    )


def _obj(spec: dict[str, object]) -> dict[str, object]:
    base = {"hosts": ["a.test"], "upstream": "http://up"}
    return {"metadata": {"name": "a", "namespace": "ns", "uid": "u"}, "spec": {**base, **spec}}


def test_the_record_reads_the_spec() -> None:
    policies = [
        {"decision": "serviceAuth", "include": [{"serviceToken": {"name": "a"}}]},
        {"decision": "serviceAuth", "include": [{"serviceToken": {"name": "b"}}], "sessionDuration": "10m"},
    ]
    spec = {
        "sessionDuration": "2h",
        "policies": policies,
        "sameSite": "None",
        "httpOnly": False,
        "pathScoped": False,
    }
    r = app_record(_obj(spec))
    assert r is not None
    assert (r.session_seconds, r.policy_sessions) == (7200.0, (None, 600.0))
    assert (r.same_site, r.http_only, r.path_scoped) == ("None", False, False)
    defaults = app_record(_obj({}))
    assert defaults is not None
    assert (defaults.same_site, defaults.http_only, defaults.path_scoped, defaults.keeps_sessions) == (
        "Lax",
        True,
        True,
        True,
    )
    for zero in ("0", "0s", "0h0m"):
        r0 = app_record(_obj({"sessionDuration": zero}))
        assert r0 is not None
        assert not r0.keeps_sessions


def test_unreadable_policy_duration_makes_the_record_unreadable() -> None:
    bad = [
        {"decision": "serviceAuth", "include": [{"serviceToken": {"name": "a"}}], "sessionDuration": "a day"}
    ]
    assert app_record(_obj({"policies": bad})) is None


def test_the_verdict_names_the_policy_by_place_when_names_repeat() -> None:
    """Two policies may share a name: the session is the one of the policy that allowed."""
    policies = [
        Policy(name="same", decision="serviceAuth", include=[Rule(service_token=ServiceTokenRef(name="a"))]),
        Policy(
            name="same",
            decision="serviceAuth",
            include=[Rule(service_token=ServiceTokenRef(name="b"))],
            session_duration="5m",
        ),
    ]
    from gatepass.decisions.policy import Identity

    assert evaluate(policies, "ns", Identity("ns", "b", "id")).index == 1
