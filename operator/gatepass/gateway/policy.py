"""Which policy decides a request: pure, ordered, Cloudflare's include/require/exclude."""

from __future__ import annotations

from dataclasses import dataclass

from gatepass.models.accessapplication import Decision, Policy, Rule


@dataclass(frozen=True)
class Identity:
    """An authenticated service token."""

    namespace: str
    name: str
    client_id: str


@dataclass(frozen=True)
class Verdict:
    decision: Decision | None  # None: no policy matched
    policy: str = ""


def rule_matches(rule: Rule, app_namespace: str, who: Identity | None) -> bool:
    if rule.everyone is not None:
        return True
    if who is None:
        return False
    if rule.service_token is not None:
        ref = rule.service_token
        return who.name == ref.name and who.namespace == (ref.namespace or app_namespace)
    if rule.any_service_token is not None:
        # Other namespaces only when listed explicitly.
        return who.namespace in (rule.any_service_token.namespaces or [app_namespace])
    return False


def evaluate(policies: list[Policy], app_namespace: str, who: Identity | None) -> Verdict:
    """The first policy whose include (any), require (all) and exclude (none) hold decides."""
    for i, p in enumerate(policies):
        if (
            any(rule_matches(r, app_namespace, who) for r in p.include)
            and all(rule_matches(r, app_namespace, who) for r in p.require)
            and not any(rule_matches(r, app_namespace, who) for r in p.exclude)
        ):
            return Verdict(p.decision, p.name or f"policies[{i}]")
    return Verdict(None)
