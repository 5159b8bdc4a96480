"""Operator settings from the environment (``GATEPASS_*``), validated at start."""

from __future__ import annotations

import math
import os
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gatepass import IMAGE_REPOSITORY, __version__
from gatepass.contract import (
    DEFAULT_KEY_SECRET,
    DEFAULT_LAST_SEEN_CONFIGMAP,
    DEFAULT_NAMESPACE,
    CommaList,
    Namespaces,
)
from gatepass.decisions.shardbudget import SHARD_BUDGET
from gatepass.gatewayconfig import ENV_PREFIX, GatewayConfig
from gatepass.models.durations import NEVER, parse_inactivity
from gatepass.models.servicetoken import Inactivity, InactivityAction
from gatepass.routing.clientip import TrustedProxies
from gatepass.routing.upstreams import UpstreamPolicy

# The operator reads the gateway's setting <FIELD> as GATEPASS_GATEWAY_<FIELD> and writes it
# into the gateway's pods as GATEPASS_<FIELD> (gatewayconfig.to_env): one rule, no table.
GATEWAY_ENV_PREFIX = f"{ENV_PREFIX}GATEWAY_"
# Gateway settings that are the operator's own too (the same name; key_namespace is the
# operator's namespace): both must agree, so the gateway takes the operator's value and
# GATEPASS_GATEWAY_<FIELD> is refused.
SHARED = (
    "issuer",
    "key_secret",
    "namespaces",
    "last_seen_configmap",
    "upstream_allow",
    "cluster_domain",
    "trusted_proxies",
)


def gateway_env_name(field: str) -> str:
    """The operator's environment variable for the gateway's setting ``field``."""
    return GATEWAY_ENV_PREFIX + field.upper()


class _GatewayEnv(PydanticBaseSettingsSource):
    """GATEPASS_GATEWAY_<FIELD> into ``gateway.<field>`` (the other sources never see them)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, "", False  # everything happens in __call__

    def __call__(self) -> dict[str, Any]:
        env = {k.upper(): v for k, v in os.environ.items()}
        found = {
            f: env[gateway_env_name(f)] for f in GatewayConfig.model_fields if gateway_env_name(f) in env
        }
        return {"gateway": found} if found else {}


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

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

    # Read (and watch) Gateway API HTTPRoutes that applications name in spec.targetRefs.
    # On: a cluster without the Gateway API CRDs works all the same (kopf watches routes
    # once their CRD appears; applications naming one say the API is missing). Off: no
    # route is read, and applications naming one say so (the chart drops the RBAC too).
    http_routes: bool = True
    # The gateway Deployment + Service the operator runs (and puts back when changed).
    manage_gateway: bool = True
    # The gateway's settings (GATEPASS_GATEWAY_<FIELD>), written into its pods as they are;
    # the SHARED ones are this model's own. The gateway_* fields below shape the Deployment.
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    gateway_name: str = "gatepass-gateway"
    # The operator's own Deployment (the chart names it): the owner of the gateway it runs,
    # so that deleting the operator (helm uninstall) garbage-collects the gateway too.
    owner_deployment: str = ""
    gateway_image: str = f"{IMAGE_REPOSITORY}:{__version__}"
    gateway_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    gateway_replicas: int = Field(2, ge=0, le=100)
    gateway_service_account: str = "gatepass-gateway"
    gateway_service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    gateway_cpu_request: str = "100m"
    gateway_memory_request: str = "128Mi"
    gateway_memory_limit: str = "256Mi"
    # spec.rollout Auto may restart workloads (the chart grants the RBAC with the same value).
    rollout: bool = False
    # ...and ends a rotation's grace early once its consumers rolled out and the previous
    # secret went unused this long (seconds; longer than the gateway's last-seen interval).
    rollout_settle_period: float = Field(600.0, ge=0)
    # The gateway reports token use here; the operator copies it to status.lastSeenAt.
    last_seen_configmap: str = DEFAULT_LAST_SEEN_CONFIGMAP
    # What one last-seen shard's entries may cost in etcd (bytes, keys twice) before the
    # operator removes the oldest of the namespaces holding the most
    # (decisions/shardbudget.py). Raise it only with etcd's --max-request-bytes.
    last_seen_shard_budget: int = Field(SHARD_BUDGET, ge=16 * 1024, le=1024 * 1024)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _GatewayEnv(settings_cls), dotenv_settings, file_secret_settings

    @model_validator(mode="after")
    def _share(self) -> Self:
        """The gateway's SHARED settings are the operator's; its pods need an admin port."""
        shared = {**{f: getattr(self, f) for f in SHARED}, "key_namespace": self.namespace}
        # Set apart from the operator's (GATEPASS_GATEWAY_ISSUER=...): refused, not ignored.
        apart = sorted(
            f for f in self.gateway.model_fields_set & shared.keys() if getattr(self.gateway, f) != shared[f]
        )
        if apart:
            names = ", ".join(gateway_env_name(f) for f in apart)
            raise ValueError(f"{names}: the gateway takes these from the operator's own settings")
        if self.gateway.admin_port == 0:
            raise ValueError(f"{gateway_env_name('admin_port')}=0: the gateway's probes need its admin port")
        self.gateway = self.gateway.model_copy(update=shared)
        return self

    @property
    def gateway_grace_seconds(self) -> int:
        """A gateway pod's termination grace: the drain, then requests in flight, then a margin."""
        return math.ceil(self.gateway.drain_seconds + self.gateway.shutdown_timeout) + 5

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
        """The gateway's, which is what the operator's checks must agree with."""
        return self.gateway.upstream_policy
