"""Which ServiceTokens the policies of each AccessApplication name: one index, kept from
the application watch (and a listing at start), so no decision costs an API call.

Two questions use it: which applications must re-check their ``TokensResolved``
condition when a token appears or goes (:meth:`PolicyNames.apps_naming`, any
namespace), and which tokens are exempt from spec.inactivity
(:meth:`PolicyNames.named_by`): as in Cloudflare, a token a policy names directly,
but only a policy of the token's own namespace, so another namespace cannot keep
this namespace's tokens alive.
"""

from __future__ import annotations

from gatepass.contract import ObjectKey
from gatepass.decisions.accessapplication import referenced_tokens
from gatepass.models.accessapplication import AccessApplicationSpec, Policy
from gatepass.operator.policyusers import PolicyUsers
from gatepass.operator.referrers import Referrers


def named_tokens(app: ObjectKey, spec: AccessApplicationSpec | None) -> frozenset[ObjectKey]:
    """Every token the application's inline policies name; nothing for a deleted or
    unreadable one (its reconcile reports why)."""
    return frozenset() if spec is None else referenced_tokens(spec.inline_policies, app[0])


class PolicyNames:
    """Tokens named by each application, in its inline policies and in the AccessPolicies it
    references (decisions/policyrefs.py: of its own namespace only)."""

    def __init__(self) -> None:
        self.users = PolicyUsers()  # which applications reference each AccessPolicy
        self._inline: dict[ObjectKey, frozenset[ObjectKey]] = {}
        self._in_policy: dict[ObjectKey, frozenset[ObjectKey]] = {}  # AccessPolicy -> tokens
        self._tokens = Referrers()  # app -> the tokens it names, both ways

    def put(self, app: ObjectKey, spec: AccessApplicationSpec | None) -> set[ObjectKey]:
        """An application's spec as last seen (None: deleted or unreadable). Returns the
        tokens it started or stopped naming: whoever cares about them may have to look again."""
        self.users.put(app, spec)
        inline = named_tokens(app, spec)
        if inline:
            self._inline[app] = inline
        else:
            self._inline.pop(app, None)
        return self._recount(app)

    def put_policy(self, policy: ObjectKey, spec: Policy | None) -> set[ObjectKey]:
        """An AccessPolicy as last seen (None: deleted or unreadable): the tokens that the
        applications referencing it started or stopped naming."""
        tokens = frozenset() if spec is None else referenced_tokens([spec], policy[0])
        if tokens:
            self._in_policy[policy] = tokens
        else:
            self._in_policy.pop(policy, None)
        changed: set[ObjectKey] = set()
        for app in self.users.apps_using(policy):
            changed |= self._recount(app)
        return changed

    def _recount(self, app: ObjectKey) -> set[ObjectKey]:
        new = self._inline.get(app, frozenset()).union(
            *(self._in_policy.get(p, frozenset()) for p in self.users.named(app))
        )
        return self._tokens.names(app, new)

    def apps_naming(self, token: ObjectKey) -> set[ObjectKey]:
        """Every application, of any namespace, whose policies name the token."""
        return self._tokens.naming(token)

    def named_by(self, token: ObjectKey) -> str | None:
        """An application of the token's own namespace that names it (namespace/name), or None."""
        own = [app for app in self._tokens.naming(token) if app[0] == token[0]]
        return "/".join(min(own)) if own else None
