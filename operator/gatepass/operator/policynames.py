"""Which ServiceTokens the policies of AccessApplications name, within their own namespace.

A token named directly by a policy is exempt from spec.inactivity
(decisions/inactivity.py), as in Cloudflare. Only an application of the token's
own namespace counts: another namespace must not keep this namespace's tokens
alive. Kept from the application watch (and a listing at start), so deciding on a
token costs no API call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from gatepass.contract import ObjectKey as Key

_RULE_LISTS = ("include", "require", "exclude")


def named_tokens(app: Mapping[str, Any]) -> frozenset[str]:
    """Names of the tokens of the application's own namespace that its policies name.
    Read leniently from the raw object: whatever does not parse names nothing."""
    meta, spec = app.get("metadata"), app.get("spec")
    if not isinstance(meta, Mapping) or not isinstance(spec, Mapping):
        return frozenset()
    namespace = meta.get("namespace")
    names = set()
    for rule in _rules(spec.get("policies")):
        ref = rule.get("serviceToken")
        if not isinstance(ref, Mapping) or not isinstance(ref.get("name"), str):
            continue
        if ref.get("namespace") in (None, namespace):
            names.add(ref["name"])
    return frozenset(names)


def _rules(policies: object) -> Iterable[Mapping[str, Any]]:
    for policy in policies if isinstance(policies, list) else ():
        if not isinstance(policy, Mapping):
            continue
        for key in _RULE_LISTS:
            rules = policy.get(key)
            yield from (r for r in (rules if isinstance(rules, list) else ()) if isinstance(r, Mapping))


class PolicyNames:
    def __init__(self) -> None:
        self._by_app: dict[Key, frozenset[str]] = {}
        self._by_token: dict[Key, set[Key]] = defaultdict(set)

    def put(self, app: Key, body: Mapping[str, Any] | None) -> set[Key]:
        """An application as last seen (None: deleted). Returns the tokens it started or
        stopped naming: their exemption may have changed."""
        namespace = app[0]
        old = self._by_app.pop(app, frozenset())
        new = named_tokens(body) if body is not None else frozenset()
        if new:
            self._by_app[app] = new
        for name in old - new:
            apps = self._by_token[(namespace, name)]
            apps.discard(app)
            if not apps:
                del self._by_token[(namespace, name)]
        for name in new - old:
            self._by_token[(namespace, name)].add(app)
        return {(namespace, name) for name in old ^ new}

    def named_by(self, token: Key) -> str | None:
        """An application (namespace/name) whose policy names the token, or None."""
        apps = self._by_token.get(token)
        return "/".join(min(apps)) if apps else None
