"""The longest session a replaced signing key must outlive."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from gatepass.operator.appevent import app_event
from gatepass.operator.infra import LongestSession
from gatepass.trust.signing import LONGEST_SESSION


def see(longest: LongestSession, body: Mapping[str, Any]) -> bool:
    """As the operator takes an application event: parsed once (operator/appevent.py)."""
    return longest.see(app_event(("n", "a"), body).spec)


def app(session: object = None) -> dict[str, object]:
    spec: dict[str, object] = {"hosts": ["a.test"], "upstream": "http://a"}
    if session is not None:
        spec["sessionDuration"] = session
    return {"metadata": {"name": "a", "namespace": "n"}, "spec": spec}


def test_the_crd_cap_until_every_application_is_known() -> None:
    longest = LongestSession()
    assert longest.bound() == LONGEST_SESSION
    see(longest, app("2h"))
    longest.complete = True
    assert longest.bound() == timedelta(hours=2)


def test_a_high_water_mark() -> None:
    longest = LongestSession()
    longest.complete = True
    assert see(longest, app()) is True  # the CRD's default, 24h
    assert longest.bound() == timedelta(hours=24)
    assert see(longest, app("300h")) is True
    # Shortened later: sessions minted before still live 300h.
    assert see(longest, app("1h")) is False
    assert longest.bound() == timedelta(hours=300)
    assert see(longest, app("a week")) is False  # unreadable: ignored
    assert see(longest, {"spec": None}) is False


def test_a_policy_longer_than_its_application_raises_the_mark() -> None:
    """A policy's sessionDuration overrides the application's: a replaced key must outlive
    the sessions that policy's callers hold."""
    longest = LongestSession()
    longest.complete = True
    obj = app("1h")
    obj["spec"]["policies"] = [  # type: ignore[index]
        {"decision": "serviceAuth", "include": [], "sessionDuration": "500h"},
        {"decision": "serviceAuth", "include": [], "sessionDuration": "nonsense"},  # counts as none
    ]
    assert see(longest, obj) is True
    assert longest.bound() == timedelta(hours=500)
    assert see(longest, app("0s")) is False  # no session: nothing to outlive
    # A spec that does not parse (an older CRD let "not a policy" in) is not served: the
    # gateway mints no session for it, so it raises nothing.
    junk = app("900h")
    junk["spec"]["policies"] = ["not a policy"]  # type: ignore[index]
    assert see(longest, junk) is False


def test_a_session_past_the_crds_cap_counts_as_the_cap() -> None:
    """Written where CEL did not run (an older CRD): the signing key's overlap, shared by
    every tenant, stays bounded; only the writer's own sessions may end early."""
    longest = LongestSession()
    longest.complete = True
    obj = app("1h")
    obj["spec"]["policies"] = [{"decision": "serviceAuth", "include": [], "sessionDuration": "100000h"}]  # type: ignore[index]
    see(longest, obj)
    assert longest.bound() == LONGEST_SESSION
    assert see(longest, app("9" * 60 + "h")) is False  # past timedelta's range: unreadable
