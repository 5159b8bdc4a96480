"""Which policy decides a request, in Cloudflare's order; and which deny policies that
order overrules. Pure: the gateway evaluates, the operator warns.

Order (Cloudflare Access): the ``bypass`` and ``serviceAuth`` policies first, top to
bottom, the first that matches deciding; only when none matches, the ``deny``
policies, top to bottom. A deny therefore never refuses a caller that an allowing
policy matches, wherever it is listed: narrow the allowing policy with ``exclude``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gatepass.models.accessapplication import Decision, Policy, Rule
from gatepass.routing.clientip import Address

ALLOWING: frozenset[Decision] = frozenset({"bypass", "serviceAuth"})


@dataclass(frozen=True)
class Identity:
    """An authenticated caller: a service token, or a pod's ServiceAccount (its
    projected token verified by the gateway; ``client_id`` is then the account's
    ``system:serviceaccount:<namespace>:<name>`` and ``pod`` the pod it is bound to)."""

    namespace: str
    name: str
    client_id: str
    service_account: bool = False
    pod: str | None = None


@dataclass(frozen=True)
class Verdict:
    decision: Decision | None  # None: no policy matched
    policy: str = ""
    # the deciding policy's place in the list (labels may repeat); verdicts compare by label
    index: int | None = field(default=None, compare=False)


def rule_matches(rule: Rule, app_namespace: str, who: Identity | None, ip: Address | None = None) -> bool:
    if rule.everyone is not None:
        return True
    if rule.ip is not None:  # the client's address, with or without credentials
        return ip is not None and any(ip in net for net in rule.ip.networks)
    if who is None:
        return False
    # A token rule never matches a ServiceAccount, nor the reverse, whatever the names.
    one, anyone = (
        (rule.service_account, rule.any_service_account)
        if who.service_account
        else (rule.service_token, rule.any_service_token)
    )
    if one is not None:
        return who.name == one.name and who.namespace == (one.namespace or app_namespace)
    if anyone is not None:
        # Other namespaces only when listed explicitly.
        return who.namespace in (anyone.namespaces or [app_namespace])
    return False


def policy_matches(
    policy: Policy, app_namespace: str, who: Identity | None, ip: Address | None = None
) -> bool:
    """Include (any), require (all), exclude (none). An unknown address matches no IP
    rule: an include or require on it fails, an exclude on it does not exclude."""
    return (
        any(rule_matches(r, app_namespace, who, ip) for r in policy.include)
        and all(rule_matches(r, app_namespace, who, ip) for r in policy.require)
        and not any(rule_matches(r, app_namespace, who, ip) for r in policy.exclude)
    )


def label(policies: Sequence[Policy], index: int) -> str:
    return policies[index].name or f"policies[{index}]"


def evaluate(
    policies: Sequence[Policy], app_namespace: str, who: Identity | None, ip: Address | None = None
) -> Verdict:
    """Allowing policies first, then deny policies; in each pass the first match decides."""
    for allowing in (True, False):
        for i, p in enumerate(policies):
            if (p.decision in ALLOWING) == allowing and policy_matches(p, app_namespace, who, ip):
                return Verdict(p.decision, label(policies, i), i)
    return Verdict(None)


# Which deny policies are overruled: for the operator's warning -----------------------


@dataclass(frozen=True)
class Overruled:
    deny: str  # the deny policy's label
    by: str  # the allowing policy listed below it that is evaluated first


Scope = tuple[bool, set[tuple[bool, str]], set[tuple[bool, str, str]]]


def _scopes(rules: Iterable[Rule], app_namespace: str) -> Scope:
    """What a policy's include may match: (everyone, whole namespaces, single callers),
    each namespace and caller tagged with whether it is of ServiceAccounts."""
    everyone = False
    namespaces: set[tuple[bool, str]] = set()
    callers: set[tuple[bool, str, str]] = set()
    for r in rules:
        if r.everyone is not None or r.ip is not None:  # an address range: any caller may come from it
            everyone = True
        for sa, one, anyone in (
            (False, r.service_token, r.any_service_token),
            (True, r.service_account, r.any_service_account),
        ):
            if one is not None:
                callers.add((sa, one.namespace or app_namespace, one.name))
            if anyone is not None:
                namespaces.update((sa, ns) for ns in anyone.namespaces or [app_namespace])
    return everyone, namespaces, callers


def may_overlap(a: Policy, b: Policy, app_namespace: str) -> bool:
    """Whether some caller may match both policies' includes (require/exclude are not
    looked at, so this errs towards yes)."""
    every_a, ns_a, tok_a = _scopes(a.include, app_namespace)
    every_b, ns_b, tok_b = _scopes(b.include, app_namespace)
    if every_a or every_b:
        return True
    token_in_namespace = any((sa, ns) in ns_b for sa, ns, _ in tok_a) or any(
        (sa, ns) in ns_a for sa, ns, _ in tok_b
    )
    return bool(ns_a & ns_b or tok_a & tok_b or token_in_namespace)


def overruled_denies(policies: Sequence[Policy], app_namespace: str) -> list[Overruled]:
    """Deny policies listed above an allowing policy that may match the same callers: read
    top to bottom they refuse those callers; evaluated as Cloudflare does, they do not."""
    found = []
    for i, deny in enumerate(policies):
        if deny.decision != "deny":
            continue
        for j in range(i + 1, len(policies)):
            other = policies[j]
            if other.decision in ALLOWING and may_overlap(deny, other, app_namespace):
                found.append(Overruled(label(policies, i), label(policies, j)))
                break
    return found
