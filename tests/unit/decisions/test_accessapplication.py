from datetime import UTC, datetime, timedelta

from gatepass.contract import REVOKE_SESSIONS_ANNOTATION
from gatepass.decisions.accessapplication import decide_app, referenced_tokens
from gatepass.models.accessapplication import (
    AccessApplication,
    AccessApplicationSpec,
    AccessApplicationStatus,
)
from gatepass.models.conditions import find
from gatepass.models.meta import ObjectMeta

T0 = datetime(2026, 1, 1, tzinfo=UTC)
AUD = "a" * 64


def spec(*rules: dict[str, object]) -> AccessApplicationSpec:
    return AccessApplicationSpec.model_validate(
        {
            "hosts": ["x.test"],
            "upstream": "http://x",
            "policies": [{"decision": "serviceAuth", "include": list(rules)}],
        }
    )


def app(
    s: AccessApplicationSpec,
    status: AccessApplicationStatus,
    namespace: str,
    generation: int,
    revoke: str | None,
) -> AccessApplication:
    notes = {REVOKE_SESSIONS_ANNOTATION: revoke} if revoke else {}
    meta = ObjectMeta(name="app", namespace=namespace, uid="u1", generation=generation, annotations=notes)
    return AccessApplication(metadata=meta, spec=s, status=status)


def test_status_shows_the_derived_aud_whatever_was_written_there() -> None:
    first = decide_app(app(spec(), AccessApplicationStatus(), "ns", 1, None), [], AUD, T0)
    assert first.status.aud == AUD
    again = decide_app(app(spec(), first.status, "ns", 2, None), [], AUD, T0)
    assert again.status.aud == AUD
    assert again.events == ()
    edited = first.status.model_copy(update={"aud": "b" * 64})  # a tenant wrote another app's aud
    assert decide_app(app(spec(), edited, "ns", 2, None), [], AUD, T0).status.aud == AUD


def test_missing_tokens_of_its_own_namespace_are_reported_once() -> None:
    s = spec({"serviceToken": {"name": "ci"}}, {"serviceToken": {"name": "gone"}})
    plan = decide_app(app(s, AccessApplicationStatus(), "ns", 1, None), [("ns", "ci")], AUD, T0)
    cond = find(plan.status.conditions, "TokensResolved")
    assert cond is not None
    assert (cond.status, cond.reason) == ("False", "MissingServiceTokens")
    assert "ns/gone" in cond.message
    assert [e.reason for e in plan.events] == ["MissingServiceTokens"]
    ready = find(plan.status.conditions, "Ready")
    assert ready is not None
    assert ready.status == "True"  # reported, not fatal
    again = decide_app(app(s, plan.status, "ns", 1, None), [("ns", "ci")], AUD, T0)
    assert again.events == ()
    resolved = decide_app(app(s, plan.status, "ns", 1, None), [("ns", "ci"), ("ns", "gone")], AUD, T0)
    cond = find(resolved.status.conditions, "TokensResolved")
    assert cond is not None
    assert cond.status == "True"


def test_whether_another_namespaces_token_exists_is_never_told() -> None:
    """An application may name tenant-b/anything; its namespace cannot read tenant-b, so
    its status and Events read the same whether that token exists or not."""
    s = spec({"serviceToken": {"name": "ci"}}, {"serviceToken": {"name": "x", "namespace": "other"}})
    assert referenced_tokens(s.inline_policies, "ns") == {("ns", "ci"), ("other", "x")}
    exists = decide_app(
        app(s, AccessApplicationStatus(), "ns", 1, None), [("ns", "ci"), ("other", "x")], AUD, T0
    )
    absent = decide_app(app(s, AccessApplicationStatus(), "ns", 1, None), [("ns", "ci")], AUD, T0)
    assert exists.status == absent.status
    assert exists.events == absent.events == ()
    cond = find(absent.status.conditions, "TokensResolved")
    assert cond is not None
    assert cond.status == "True"
    assert "not checked" in cond.message
    assert "other/x" in cond.message


def test_revoke_sessions_acts_once_per_value() -> None:
    plan = decide_app(app(spec(), AccessApplicationStatus(aud=AUD), "ns", 1, "r1"), [], AUD, T0)
    end_of_second = T0 + timedelta(seconds=1)  # "r1" names no moment: T0's whole second
    assert plan.status.sessions_revoked_before == end_of_second
    assert [e.reason for e in plan.events] == ["SessionsRevoked"]
    later = datetime(2026, 2, 1, tzinfo=UTC)
    again = decide_app(app(spec(), plan.status, "ns", 1, "r1"), [], AUD, later)
    assert again.status.sessions_revoked_before == end_of_second
    assert again.events == ()


def test_a_host_claimed_earlier_elsewhere_is_a_conflict_reported_once() -> None:
    from gatepass.routing.hosts import Conflict

    s = AccessApplicationSpec.model_validate(
        {"hosts": ["taken.test", "free.test"], "upstream": "http://x", "policies": []}
    )
    taken = [Conflict("taken.test", "team-a")]
    plan = decide_app(app(s, AccessApplicationStatus(), "team-b", 1, None), [], AUD, T0, taken)
    ready = find(plan.status.conditions, "Ready")
    assert ready is not None
    assert (ready.status, ready.reason) == ("False", "HostConflict")
    assert "taken.test" in ready.message
    assert "namespace team-a" in ready.message
    assert "serving free.test" in ready.message
    assert [e.reason for e in plan.events] == ["HostConflict"]
    assert decide_app(app(s, plan.status, "team-b", 1, None), [], AUD, T0, taken).events == ()
    # The owner went away: served again.
    freed = decide_app(app(s, plan.status, "team-b", 1, None), [], AUD, T0, [])
    ready = find(freed.status.conditions, "Ready")
    assert ready is not None
    assert (ready.status, ready.reason) == ("True", "Serving")


def test_a_forbidden_upstream_is_not_ready_and_told_once() -> None:
    why = "is a Service of namespace b, not ns, and not on the upstream allow-list"
    first = decide_app(
        app(spec(), AccessApplicationStatus(), "ns", 1, None), [], AUD, T0, upstream_refusal=why
    )
    ready = find(first.status.conditions, "Ready")
    assert ready is not None
    assert (ready.status, ready.reason) == ("False", "UpstreamNotAllowed")
    assert why in ready.message
    assert [e.reason for e in first.events] == ["UpstreamNotAllowed"]
    again = decide_app(app(spec(), first.status, "ns", 1, None), [], AUD, T0, upstream_refusal=why)
    assert again.events == ()


def test_a_deny_listed_above_an_allowing_policy_is_warned_about_once() -> None:
    s = AccessApplicationSpec.model_validate(
        {
            "hosts": ["x.test"],
            "upstream": "http://x",
            "policies": [
                {"name": "no-ci", "decision": "deny", "include": [{"serviceToken": {"name": "ci"}}]},
                {"decision": "bypass", "include": [{"everyone": {}}]},
            ],
        }
    )
    plan = decide_app(app(s, AccessApplicationStatus(), "ns", 1, None), [("ns", "ci")], AUD, T0)
    cond = find(plan.status.conditions, "DenyPoliciesEffective")
    assert cond is not None
    assert (cond.status, cond.reason) == ("False", "OverruledByAllowingPolicy")
    assert "deny policy no-ci is listed above policies[1]" in cond.message
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", "OverruledByAllowingPolicy")]
    ready = find(plan.status.conditions, "Ready")
    assert ready is not None
    assert ready.status == "True"  # served as Cloudflare would: a warning, not an outage
    again = decide_app(app(s, plan.status, "ns", 1, None), [("ns", "ci")], AUD, T0)
    assert again.events == ()
    fixed = s.model_copy(update={"policies": s.policies[::-1]})
    after = decide_app(app(fixed, plan.status, "ns", 2, None), [("ns", "ci")], AUD, T0)
    cond = find(after.status.conditions, "DenyPoliciesEffective")
    assert cond is not None
    assert (cond.status, cond.reason) == ("True", "Effective")
    assert after.events == ()


def test_revoke_sessions_records_the_moment_asked_to_the_microsecond() -> None:
    handled = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    asked = "2026-01-01T00:00:00.400000Z"
    plan = decide_app(app(spec(), AccessApplicationStatus(aud=AUD), "ns", 1, asked), [], AUD, handled)
    assert plan.status.wire()["sessionsRevokedBefore"] == asked
    assert [e.message for e in plan.events] == [f"JWTs issued before {asked} are refused"]
    whole = decide_app(
        app(spec(), AccessApplicationStatus(aud=AUD), "ns", 1, "2026-01-01T00:00:00Z"), [], AUD, handled
    )
    assert whole.status.wire()["sessionsRevokedBefore"] == "2026-01-01T00:00:01Z"
