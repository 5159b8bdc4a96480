"""AccessApplication (gatepass.dev/v1alpha1): spec and status as the CRD defines them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Literal

from pydantic import Field, field_validator

from gatepass.contract import API_VERSION, APP_KIND, REVOKE_SESSIONS_ANNOTATION
from gatepass.models.base import CamelModel
from gatepass.models.conditions import Condition
from gatepass.models.durations import parse
from gatepass.models.meta import ObjectMeta
from gatepass.models.servicetoken import RateLimit
from gatepass.models.timestamps import Timestamp

Decision = Literal["serviceAuth", "bypass", "deny"]
SameSite = Literal["None", "Lax", "Strict"]


class ServiceTokenRef(CamelModel):
    name: str
    namespace: str | None = None


class AnyServiceToken(CamelModel):
    namespaces: list[str] | None = None


class ServiceAccountRef(CamelModel):
    """A Kubernetes ServiceAccount, whose pods present their projected token (gateway/workload.py)."""

    name: str
    namespace: str | None = None


class AnyServiceAccount(CamelModel):
    namespaces: list[str] | None = None


class Everyone(CamelModel):
    pass


class IpRanges(CamelModel):
    """Where a request comes from (routing/clientip.py): CIDRs, or single addresses."""

    ranges: list[str] = Field(min_length=1)

    @field_validator("ranges")
    @classmethod
    def _parse(cls, ranges: list[str]) -> list[str]:
        for r in ranges:
            ip_network(r, strict=False)  # a ValueError makes the whole object unreadable
        return ranges

    @cached_property
    def networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """Parsed once per object, not per request."""
        return tuple(ip_network(r, strict=False) for r in self.ranges)


class Rule(CamelModel):
    service_token: ServiceTokenRef | None = None
    any_service_token: AnyServiceToken | None = None
    service_account: ServiceAccountRef | None = None
    any_service_account: AnyServiceAccount | None = None
    everyone: Everyone | None = None
    ip: IpRanges | None = None

    @property
    def names_service_accounts(self) -> bool:
        return self.service_account is not None or self.any_service_account is not None


class Policy(CamelModel):
    name: str | None = None
    decision: Decision
    include: list[Rule]
    require: list[Rule] = Field(default_factory=list)
    exclude: list[Rule] = Field(default_factory=list)
    # Cloudflare's policy session duration: sessions minted for callers this policy
    # allows live this long instead of the application's sessionDuration.
    session_duration: str | None = None

    @property
    def session(self) -> timedelta | None:
        return None if self.session_duration is None else parse(self.session_duration)


class LocalPolicyRef(CamelModel):
    """An AccessPolicy by name: of the application's own namespace, never another's (the
    CRD has no namespace here)."""

    name: str


class PolicyRef(CamelModel):
    """An entry of spec.policies naming a reusable policy (models/accesspolicy.py),
    evaluated in its place (decisions/policyrefs.py)."""

    policy_ref: LocalPolicyRef


PolicyEntry = Policy | PolicyRef


def admits_service_accounts(policies: Iterable[Policy]) -> bool:
    """Whether some policy names ServiceAccounts: only then are bearer tokens the gateway's."""
    rules = (r for p in policies for r in (*p.include, *p.require, *p.exclude))
    return any(r.names_service_accounts for r in rules)


class TargetRef(CamelModel):
    """A Gateway API HTTPRoute of the application's own namespace (GEP-713 policy
    attachment; the CRD has no namespace here): its hostnames and path matches become
    destinations (decisions/httproute.py). ``section_name``: one named rule of it only."""

    group: Literal["gateway.networking.k8s.io"] = "gateway.networking.k8s.io"
    kind: Literal["HTTPRoute"] = "HTTPRoute"
    name: str
    section_name: str | None = None

    @property
    def label(self) -> str:
        """How conditions name it: ``reports`` or ``reports/rule-a``."""
        return self.name if self.section_name is None else f"{self.name}/{self.section_name}"


class AccessApplicationSpec(CamelModel):
    # Destinations written here; beside them, those taken from targetRefs (status.routes).
    hosts: list[str] = Field(default_factory=list)
    target_refs: list[TargetRef] = Field(default_factory=list)
    upstream: str
    session_duration: str = "24h"  # 0: no session, credentials on every request
    # The CF_Authorization cookie's attributes (Cloudflare's cookie settings).
    same_site: SameSite = "Lax"
    http_only: bool = True
    path_scoped: bool = True  # Path= the application's path; False: the whole host ("/")
    policies: list[PolicyEntry] = Field(default_factory=list)  # inline, or by policyRef
    # Cloudflare's strict mode: credentials on every request, no session JWT accepted or set.
    # None (unset): the gateway's default, GATEPASS_STRICT_SERVICE_TOKEN_AUTH.
    strict_service_token_auth: bool | None = None
    # One header carrying {"cf-access-client-id": ..., "cf-access-client-secret": ...};
    # Authorization too, read by its value's shape (gateway/presented.py).
    read_service_tokens_from_header: str | None = None
    # Authorization: Basic base64(clientId:clientSecret).
    allow_basic_auth: bool = False
    # Each token's limit at this application, unless the token has its own spec.rateLimit.
    token_rate_limit: RateLimit | None = None

    @property
    def inline_policies(self) -> list[Policy]:
        """The policies written here (the referenced ones: decisions/policyrefs.py)."""
        return [p for p in self.policies if isinstance(p, Policy)]

    @property
    def policy_refs(self) -> frozenset[str]:
        """The names of the AccessPolicies referenced, of the application's namespace."""
        return frozenset(p.policy_ref.name for p in self.policies if isinstance(p, PolicyRef))

    @property
    def session(self) -> timedelta:
        return parse(self.session_duration)


class RouteHosts(CamelModel):
    """The destinations the operator took from one targetRef (decisions/httproute.py).
    Served like spec.hosts, under the same ownership rules (routing/hosts.py): a tenant
    writing here (status is often theirs too) gets nothing spec.hosts would not give."""

    name: str
    section_name: str | None = None
    hosts: list[str] = Field(default_factory=list)


class AccessApplicationStatus(CamelModel):
    aud: str | None = None
    routes: list[RouteHosts] | None = None  # None: no targetRefs (nothing written)
    sessions_revoked_before: Timestamp | None = None
    last_revoke_sessions_request: str | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class AccessApplication(CamelModel):
    """A whole AccessApplication."""

    api_version: str = API_VERSION
    kind: str = APP_KIND
    metadata: ObjectMeta
    spec: AccessApplicationSpec
    status: AccessApplicationStatus = Field(default_factory=AccessApplicationStatus)

    @property
    def revoke_sessions_request(self) -> str | None:
        return self.metadata.annotations.get(REVOKE_SESSIONS_ANNOTATION)
