"""An application's policies in order, the AccessPolicies it names by policyRef put in
their places. Pure: the gateway resolves from its watch, the operator from its reads.

Fail closed: a reference to a policy that does not exist (or does not parse) becomes a
policy that matches nobody, in its place. Who gets in is whoever some allowing policy
matches; a policy that matches nobody takes no one from that set, so a missing allowing
policy admits less, and a missing deny policy admits no one more (a deny only ever
refuses callers no allowing policy matched, who are refused anyway: decisions/policy.py).
The application keeps serving what its other policies allow: a missing shared policy
must not take down every application naming it, and must never open one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gatepass.models.accessapplication import Policy, PolicyEntry

# What a lookup answers for a name: the policy, or None when it exists but does not parse.
Found = Mapping[str, Policy | None]


def nobody(name: str) -> Policy:
    """What a missing or unreadable reference stands for: a deny whose include is empty,
    so it matches no caller and overrules nothing (labelled as the reference)."""
    return Policy(name=name, decision="deny", include=[])


@dataclass(frozen=True)
class Resolved:
    policies: tuple[Policy, ...]  # one per entry, in the application's order
    missing: tuple[str, ...] = ()  # referenced names with no AccessPolicy, in order
    unreadable: tuple[str, ...] = ()  # referenced names whose AccessPolicy does not parse

    @property
    def complete(self) -> bool:
        return not self.missing and not self.unreadable


def resolve(entries: Sequence[PolicyEntry], found: Found) -> Resolved:
    """Each entry as evaluated: itself if inline, the AccessPolicy it names, or nobody()."""
    policies: list[Policy] = []
    missing: list[str] = []
    unreadable: list[str] = []
    for entry in entries:
        if isinstance(entry, Policy):
            policies.append(entry)
            continue
        name = entry.policy_ref.name
        policy = found.get(name)
        if policy is None:
            (unreadable if name in found else missing).append(name)
            policy = nobody(name)
        policies.append(policy)
    return Resolved(tuple(policies), _unique(missing), _unique(unreadable))


def _unique(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
