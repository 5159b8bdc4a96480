"""What an AccessApplication's status should say: pure, over (spec, status, tokens, now)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from gatepass.contract import ObjectKey, format_ts_fine
from gatepass.decisions.httproute import RoutesTaken
from gatepass.decisions.policy import Overruled, overruled_denies
from gatepass.decisions.policyrefs import Resolved, resolve
from gatepass.decisions.revocation import revoked_before
from gatepass.models.accessapplication import (
    AccessApplication,
    AccessApplicationSpec,
    AccessApplicationStatus,
    Policy,
)
from gatepass.models.conditions import (
    DENY_POLICIES_EFFECTIVE,
    POLICIES_RESOLVED,
    READY,
    ROUTES_RESOLVED,
    TOKENS_RESOLVED,
    ConditionStatus,
    find,
    set_condition,
)
from gatepass.models.events import Event
from gatepass.routing.hosts import Conflict, destination


@dataclass(frozen=True)
class AppPlan:
    status: AccessApplicationStatus
    events: tuple[Event, ...]


def referenced_tokens(policies: Iterable[Policy], namespace: str) -> frozenset[ObjectKey]:
    """Every ServiceToken named in a rule (namespace, name)."""
    refs = set()
    for policy in policies:
        for rule in (*policy.include, *policy.require, *policy.exclude):
            if rule.service_token is not None:
                refs.add((rule.service_token.namespace or namespace, rule.service_token.name))
    return frozenset(refs)


@dataclass(frozen=True)
class Change:
    """A condition to set; ``event``: a Warning Event when it newly says this."""

    type: str
    status: ConditionStatus
    reason: str
    message: str
    event: bool = False


def _tokens_resolved(missing: Sequence[str], elsewhere: Sequence[str]) -> Change:
    """Whether the ServiceTokens named exist, for this namespace's only: whether a token of
    another namespace exists is not this namespace's to learn (it may not read there)."""
    unchecked = (
        "; not checked (another namespace's tokens are not looked up for you): " + ", ".join(elsewhere)
        if elsewhere
        else ""
    )
    if missing:
        msg = "policies name ServiceTokens that do not exist (they match nothing): " + ", ".join(missing)
        return Change(TOKENS_RESOLVED, "False", "MissingServiceTokens", msg + unchecked, event=True)
    return Change(TOKENS_RESOLVED, "True", "Resolved", "every ServiceToken named exists" + unchecked)


def _policies_resolved(resolution: Resolved) -> Change:
    """Whether every policyRef names an AccessPolicy of this namespace that parses; one
    that does not matches nobody in its place (decisions/policyrefs.py: fail closed)."""
    if resolution.complete:
        return Change(POLICIES_RESOLVED, "True", "Resolved", "every policyRef names an AccessPolicy")
    said = []
    if resolution.missing:
        said.append("AccessPolicies not found in this namespace: " + ", ".join(resolution.missing))
    if resolution.unreadable:
        said.append("AccessPolicies that do not parse: " + ", ".join(resolution.unreadable))
    reason = "PolicyNotFound" if resolution.missing else "PolicyInvalid"
    msg = "; ".join(said) + " (each matches nobody where it is named: it admits no one)"
    return Change(POLICIES_RESOLVED, "False", reason, msg, event=True)


def _denies_effective(overruled: Sequence[Overruled]) -> Change:
    """A deny listed above an allowing policy that may admit the same callers: read top
    to bottom (as gatepass 0.1.0 did) it refused them; evaluated as Cloudflare
    does, it does not. Said loudly, since it changes who gets in."""
    if not overruled:
        return Change(
            DENY_POLICIES_EFFECTIVE,
            "True",
            "Effective",
            "no deny policy is listed above an allowing policy that may admit the same callers",
        )
    msg = (
        "; ".join(f"deny policy {o.deny} is listed above {o.by}" for o in overruled)
        + ": bypass and serviceAuth policies are evaluated first, so callers both match are"
        " admitted; to refuse them, add them to the allowing policy's exclude"
    )
    return Change(DENY_POLICIES_EFFECTIVE, "False", "OverruledByAllowingPolicy", msg, event=True)


def _routes_resolved(routes: RoutesTaken) -> Change:
    """Whether every targetRef gave all the route serves (notes: where it covers more)."""
    notes = "; ".join(n for t in routes.taken for n in t.notes)
    tail = f" (covering more than they serve: {notes})" if notes else ""
    problems = routes.problems
    if not problems:
        named = ", ".join(f"{t.ref.label} ({len(t.hosts)})" for t in routes.taken)
        msg = f"destinations taken from HTTPRoutes (status.routes): {named}{tail}"
        return Change(ROUTES_RESOLVED, "True", "Resolved", msg)
    reason = problems[0].problem or "RouteNotFound"
    msg = "; ".join(m for t in problems for m in t.missing)
    return Change(ROUTES_RESOLVED, "False", reason, msg + tail, event=True)


def _ready(
    spec: AccessApplicationSpec,
    host_conflicts: Sequence[Conflict],
    upstream_refusal: str | None,
    routes: RoutesTaken,
) -> Change:
    everything = [*spec.hosts, *routes.hosts]
    if upstream_refusal is not None:
        msg = f"not served: spec.upstream {spec.upstream} {upstream_refusal}"
        return Change(READY, "False", "UpstreamNotAllowed", msg, event=True)
    if host_conflicts:
        # Only the namespace of the owner: the name of another tenant's object is theirs.
        msg = "not served for " + "; ".join(
            f"{c.host} (reserved for the gateway itself)"
            if c.owner_namespace is None
            else f"{c.host} ({'its host was' if c.host_held else 'it was'} claimed earlier"
            f" by an application in namespace {c.owner_namespace})"
            for c in host_conflicts
        )
        refused = {c.host for c in host_conflicts}
        served = [h for h in everything if destination(h) not in refused]
        if served:
            msg += "; serving " + ", ".join(served)
        return Change(READY, "False", "HostConflict", msg, event=True)
    if problems := routes.problems:
        msg = "not served for all that its HTTPRoutes serve (see RoutesResolved): " + ", ".join(
            t.ref.label for t in problems
        )
        if everything:
            msg += "; serving " + ", ".join(everything)
        return Change(READY, "False", problems[0].problem or "RouteNotFound", msg, event=False)
    hosts = ", ".join(everything)
    return Change(READY, "True", "Serving", f"the gateway serves {hosts} -> {spec.upstream}")


def decide_app(
    app: AccessApplication,
    existing_tokens: Collection[ObjectKey],
    aud: str,
    now: datetime,
    host_conflicts: Sequence[Conflict] = (),
    upstream_refusal: str | None = None,
    resolution: Resolved | None = None,
    routes: RoutesTaken | None = None,
) -> AppPlan:
    """``resolution``: spec.policies with the AccessPolicies named put in place (default:
    none found); ``routes``: what spec.targetRefs gave (decisions/httproute.py)."""
    spec, status, namespace = app.spec, app.status, app.metadata.namespace
    generation, revoke_request = app.metadata.generation, app.revoke_sessions_request
    st = status.model_copy(deep=True)
    events: list[Event] = []
    st.aud = aud  # derived from the uid (trust/seal.py): whatever else was written is put right
    if revoke_request and revoke_request != st.last_revoke_sessions_request:
        st.sessions_revoked_before = before = revoked_before(revoke_request, now)
        msg = f"JWTs issued before {format_ts_fine(before)} are refused"
        events.append(Event("Normal", "SessionsRevoked", msg))
    st.last_revoke_sessions_request = revoke_request

    taken = routes if routes is not None else RoutesTaken()
    # The hosts each route gave, for the gateway (routing/hosts.py: route_hosts); none
    # written without targetRefs.
    st.routes = taken.status if spec.target_refs else None
    resolved = resolution if resolution is not None else resolve(spec.policies, {})
    refs = referenced_tokens(resolved.policies, namespace)
    missing = sorted(f"{ns}/{name}" for ns, name in refs - set(existing_tokens) if ns == namespace)
    elsewhere = sorted(f"{ns}/{name}" for ns, name in refs if ns != namespace)
    changes = [
        _policies_resolved(resolved),
        _tokens_resolved(missing, elsewhere),
        _denies_effective(overruled_denies(resolved.policies, namespace)),
        _ready(spec, host_conflicts, upstream_refusal, taken),
    ]
    if spec.target_refs:
        changes.insert(0, _routes_resolved(taken))
    elif find(status.conditions, ROUTES_RESOLVED) is not None:  # its targetRefs went
        st.conditions = [c for c in st.conditions if c.type != ROUTES_RESOLVED]
    for change in changes:
        old = find(status.conditions, change.type)
        st.conditions = set_condition(
            st.conditions, change.type, change.status, change.reason, change.message, now, generation
        )
        if change.event and (old is None or (old.reason, old.message) != (change.reason, change.message)):
            events.append(Event("Warning", change.reason, change.message))
    st.observed_generation = generation
    return AppPlan(status=st, events=tuple(events))
