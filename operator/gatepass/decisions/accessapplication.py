"""What an AccessApplication's status should say: pure, over (spec, status, tokens, now)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from gatepass.contract import ObjectKey as TokenKey
from gatepass.models.accessapplication import (
    AccessApplication,
    AccessApplicationSpec,
    AccessApplicationStatus,
)
from gatepass.models.conditions import READY, TOKENS_RESOLVED, set_condition
from gatepass.models.events import Event
from gatepass.routing.hosts import Conflict


@dataclass(frozen=True)
class AppPlan:
    status: AccessApplicationStatus
    events: tuple[Event, ...]
    referenced: frozenset[TokenKey]


def referenced_tokens(spec: AccessApplicationSpec, namespace: str) -> frozenset[TokenKey]:
    """Every ServiceToken named in a rule (namespace, name)."""
    refs = set()
    for policy in spec.policies:
        for rule in (*policy.include, *policy.require, *policy.exclude):
            if rule.service_token is not None:
                refs.add((rule.service_token.namespace or namespace, rule.service_token.name))
    return frozenset(refs)


def decide_app(
    app: AccessApplication,
    existing_tokens: Collection[TokenKey],
    aud: str,
    now: datetime,
    host_conflicts: Sequence[Conflict] = (),
    upstream_refusal: str | None = None,
) -> AppPlan:
    spec, status, namespace = app.spec, app.status, app.metadata.namespace
    generation, revoke_request = app.metadata.generation, app.revoke_sessions_request
    st = status.model_copy(deep=True)
    events: list[Event] = []
    st.aud = aud  # derived from the uid (trust/seal.py): whatever else was written is put right
    if revoke_request and revoke_request != st.last_revoke_sessions_request:
        st.sessions_revoked_before = now
        events.append(
            Event("Normal", "SessionsRevoked", f"JWTs issued before {now:%Y-%m-%dT%H:%M:%SZ} are refused")
        )
    st.last_revoke_sessions_request = revoke_request

    refs = referenced_tokens(spec, namespace)
    missing = sorted(f"{ns}/{name}" for ns, name in refs - set(existing_tokens))
    old = next((c for c in status.conditions if c.type == TOKENS_RESOLVED), None)
    if missing:
        msg = "policies name ServiceTokens that do not exist (they match nothing): " + ", ".join(missing)
        st.conditions = set_condition(
            st.conditions, TOKENS_RESOLVED, "False", "MissingServiceTokens", msg, now, generation
        )
        if old is None or old.status != "False" or old.message != msg:
            events.append(Event("Warning", "MissingServiceTokens", msg))
    else:
        st.conditions = set_condition(
            st.conditions,
            TOKENS_RESOLVED,
            "True",
            "Resolved",
            "every ServiceToken named exists",
            now,
            generation,
        )
    old_ready = next((c for c in status.conditions if c.type == READY), None)
    if upstream_refusal is not None:
        msg = f"not served: spec.upstream {spec.upstream} {upstream_refusal}"
        st.conditions = set_condition(
            st.conditions, READY, "False", "UpstreamNotAllowed", msg, now, generation
        )
        if old_ready is None or old_ready.reason != "UpstreamNotAllowed" or old_ready.message != msg:
            events.append(Event("Warning", "UpstreamNotAllowed", msg))
    elif host_conflicts:
        # Only the namespace of the owner: the name of another tenant's object is theirs.
        msg = "not served for " + "; ".join(
            f"{c.host} (reserved for the gateway itself)"
            if c.owner_namespace is None
            else f"{c.host} (claimed earlier by an application in namespace {c.owner_namespace})"
            for c in host_conflicts
        )
        served = [h for h in spec.hosts if h not in {c.host for c in host_conflicts}]
        if served:
            msg += "; serving " + ", ".join(served)
        st.conditions = set_condition(st.conditions, READY, "False", "HostConflict", msg, now, generation)
        if old_ready is None or old_ready.reason != "HostConflict" or old_ready.message != msg:
            events.append(Event("Warning", "HostConflict", msg))
    else:
        hosts = ", ".join(spec.hosts)
        st.conditions = set_condition(
            st.conditions,
            READY,
            "True",
            "Serving",
            f"the gateway serves {hosts} -> {spec.upstream}",
            now,
            generation,
        )
    st.observed_generation = generation
    return AppPlan(status=st, events=tuple(events), referenced=refs)
