"""Operator settings from the environment (``GATEPASS_*``), validated at start."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gatepass import IMAGE_REPOSITORY, __version__
from gatepass.contract import (
    DEFAULT_KEY_SECRET,
    DEFAULT_LAST_SEEN_CONFIGMAP,
    DEFAULT_NAMESPACE,
    CommaList,
    Namespaces,
)
from gatepass.decisions.shardbudget import SHARD_BUDGET
from gatepass.models.durations import NEVER, parse_inactivity
from gatepass.models.servicetoken import Inactivity, InactivityAction
from gatepass.routing.clientip import TrustedProxies
from gatepass.routing.upstreams import UpstreamPolicy


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEPASS_")

    namespaces: Namespaces = Field(default_factory=list)
    metrics_port: int = Field(9090, ge=0, le=65535, description="Prometheus /metrics; 0 turns it off")
    health_port: int = Field(
        8080, ge=0, le=65535, description="probes: /healthz (live), /readyz (ready); 0 turns them off"
    )
    bind_address: str = "0.0.0.0"  # noqa: S104 - in a pod the probes come from the kubelet
    peering: str = Field("gatepass", description="one active operator per name: the Lease <peering>-operator")
    standalone: bool = Field(
        False, description="no leader lease: active at once (one replica, or local runs)"
    )
    workers: int = Field(4, ge=1, le=64, description="reconciles running at once")
    # The operator's own requests (kopf's watches aside), as client-go's QPS/burst. 100/s:
    # 10,000 new tokens in ~7 min (4 requests each), a fifth of what this 2-core control
    # plane serves; the API server's priority and fairness guards the rest. 0: no limit.
    api_qps: float = Field(
        100.0, ge=0, le=10_000, description="API requests per second, on average; 0: no limit"
    )
    api_burst: int = Field(200, ge=1, le=10_000, description="API requests at once after a quiet spell")
    log_level: str = "INFO"

    # The operator's own namespace: the signing keys and the gateway live here.
    namespace: str = DEFAULT_NAMESPACE
    key_secret: str = DEFAULT_KEY_SECRET
    key_rotation: str = Field("1008h", description="new signing key this often (six weeks)")
    issuer: str = Field("https://gatepass.local", description="the JWTs' iss, passed to the gateway")
    # Upstreams beyond each application's own namespace (routing/upstreams.py): hosts,
    # *.suffix, CIDRs, or * for any. Passed to the gateway, which enforces it.
    upstream_allow: CommaList = Field(default_factory=list)
    cluster_domain: str = "cluster.local"
    # Proxies in front of the gateway whose X-Forwarded-For it believes (CIDRs or
    # addresses); passed to the gateway. Empty: the connection's peer is the client.
    trusted_proxies: TrustedProxies = Field(default_factory=list)

    # Tokens without spec.inactivity follow this: unused this long (720h-8760h), they are
    # disabled or deleted. Empty (the default) or "never": no default rule.
    inactivity_after: str = ""
    inactivity_action: InactivityAction = "disable"

    # The gateway Deployment + Service the operator runs (and puts back when changed).
    manage_gateway: bool = True
    gateway_name: str = "gatepass-gateway"
    # The operator's own Deployment (the chart names it): the owner of the gateway it runs,
    # so that deleting the operator (helm uninstall) garbage-collects the gateway too.
    owner_deployment: str = ""
    gateway_image: str = f"{IMAGE_REPOSITORY}:{__version__}"
    gateway_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    gateway_replicas: int = Field(2, ge=0, le=100)
    gateway_service_account: str = "gatepass-gateway"
    gateway_service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    gateway_port: int = Field(8000, ge=1, le=65535)
    gateway_admin_port: int = Field(9091, ge=1, le=65535)
    gateway_cpu_request: str = "100m"
    gateway_memory_request: str = "128Mi"
    gateway_memory_limit: str = "256Mi"
    gateway_cookie_secure: bool = True
    gateway_access_log: bool = Field(True, description="one JSON line per request on the gateway's stdout")
    # A gateway pod's SIGTERM: serve while endpoints drop it, then give requests in flight
    # this long (gateway/settings.py); the pod's termination grace covers both.
    gateway_drain_seconds: int = Field(10, ge=0, le=300)
    gateway_shutdown_timeout: int = Field(15, ge=0, le=300)
    # spec.rollout Auto may restart workloads (the chart grants the RBAC with the same value).
    rollout: bool = False
    # ...and ends a rotation's grace early once its consumers rolled out and the previous
    # secret went unused this long (seconds; longer than the gateway's last-seen interval).
    rollout_settle_period: float = Field(600.0, ge=0)
    # Pods' projected ServiceAccount tokens as credentials (serviceAccount policy rules).
    gateway_workload_identity: bool = True
    # Applications' audiences are under these (gateway/workload.py: audiences); empty: the issuer.
    gateway_workload_audiences: CommaList = Field(default_factory=list)
    # The gateway reports token use here; the operator copies it to status.lastSeenAt.
    last_seen_configmap: str = DEFAULT_LAST_SEEN_CONFIGMAP
    gateway_last_seen_interval: float = Field(60.0, ge=0)
    # What one last-seen shard's entries may cost in etcd (bytes, keys twice) before the
    # operator removes the oldest of the namespaces holding the most
    # (decisions/shardbudget.py). Raise it only with etcd's --max-request-bytes.
    last_seen_shard_budget: int = Field(SHARD_BUDGET, ge=16 * 1024, le=1024 * 1024)

    @field_validator("inactivity_after")
    @classmethod
    def _inactivity(cls, text: str) -> str:
        if text:
            parse_inactivity(text)  # a ValueError stops the operator at start, naming the setting
        return text

    @property
    def inactivity(self) -> Inactivity | None:
        """The default inactivity rule, or None."""
        if self.inactivity_after in ("", NEVER):
            return None
        return Inactivity(after=self.inactivity_after, action=self.inactivity_action)

    @property
    def upstream_policy(self) -> UpstreamPolicy:
        return UpstreamPolicy(
            allow=tuple(self.upstream_allow),
            system_namespace=self.namespace,
            cluster_domain=self.cluster_domain,
            own_ports=frozenset({self.gateway_port, self.gateway_admin_port}),
        )
