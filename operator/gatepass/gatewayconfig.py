"""The gateway's settings, defined once.

The gateway reads them from its environment (gateway/settings.py: ``GATEPASS_<FIELD>``).
The operator nests the same model in its own settings (``GATEPASS_GATEWAY_<FIELD>`` in its
pod) and writes it into the gateway Deployment with ``to_env``: a setting added here
reaches the gateway's pods with no other change, under the name the gateway reads.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gatepass.contract import (
    DEFAULT_KEY_SECRET,
    DEFAULT_LAST_SEEN_CONFIGMAP,
    DEFAULT_NAMESPACE,
    CommaList,
    Namespaces,
)
from gatepass.routing.clientip import Network, TrustedProxies, networks
from gatepass.routing.upstreams import UpstreamPolicy

ENV_PREFIX = "GATEPASS_"


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issuer: str = Field("https://gatepass.local", description="the JWTs' iss; also serves the OIDC discovery")
    port: int = Field(8000, ge=1, le=65535)
    admin_port: int = Field(9091, ge=0, le=65535, description="/healthz, /readyz, /metrics; 0 turns it off")
    bind_address: str = "0.0.0.0"  # noqa: S104 - in a pod, traffic comes through the Service
    # Where the signing-key Secret lives (the gateway's own namespace).
    key_namespace: str = DEFAULT_NAMESPACE
    key_secret: str = DEFAULT_KEY_SECRET
    namespaces: Namespaces = Field(default_factory=list)
    # Where last use of each token is reported (gateway/lastseen.py); 0 s turns it off.
    last_seen_configmap: str = DEFAULT_LAST_SEEN_CONFIGMAP
    last_seen_interval: float = Field(60.0, ge=0)
    # Cloudflare's organization-wide strict service token authentication: the default of
    # applications that leave spec.strictServiceTokenAuth unset (gateway/state.py).
    strict_service_token_auth: bool = False
    cookie_secure: bool = Field(True, description="false only when clients reach the gateway over plain HTTP")
    # Which upstreams applications may use (routing/upstreams.py); set by the operator.
    upstream_allow: CommaList = Field(default_factory=list)
    cluster_domain: str = "cluster.local"
    # Proxies in front of the gateway whose X-Forwarded-For is believed (CIDRs or
    # addresses; routing/clientip.py). Empty: the connection's peer is the client.
    trusted_proxies: TrustedProxies = Field(default_factory=list)
    upstream_timeout: float = Field(30.0, gt=0)
    upstream_connections: int = Field(512, ge=1, description="pooled connections to upstreams in total")
    upstream_connections_per_app: int = Field(
        64, ge=1, description="requests in flight to one application's upstream; more wait, then 503"
    )
    upstream_queue_timeout: float = Field(5.0, ge=0, description="how long a request waits for a slot")
    # Clients: a request's headers must arrive within header_timeout of the connection
    # (or of the previous response), which is also how long an idle keep-alive lasts;
    # header count and sizes are bounded, so a stalled client holds little memory.
    header_timeout: float = Field(15.0, gt=0)
    max_headers: int = Field(64, ge=8, le=1024)
    max_header_line: int = Field(8190, ge=1024, le=65536, description="bytes in the request line or a header")
    jwt_cache_size: int = Field(50_000, ge=0)
    # How long a proxy may reuse a forward-auth admission of a session (gateway/reuse.py):
    # a revocation holds through such a cache within this many seconds more. 0: never.
    authorize_cache_seconds: int = Field(1, ge=0, le=60)
    # SIGTERM (a rollout, a drained node): /readyz fails at once and the gateway keeps serving
    # for drain_seconds, every answer with Connection: close, while endpoints and proxies in
    # front drop this pod; then it stops accepting and gives requests in flight
    # shutdown_timeout. Their sum must stay inside terminationGracePeriodSeconds.
    drain_seconds: float = Field(10.0, ge=0, le=300)
    shutdown_timeout: float = Field(15.0, ge=0, le=300)
    # Pods' projected ServiceAccount tokens as credentials (gateway/workload.py): the gateway
    # then watches pods and ServiceAccounts (metadata only) and reads the issuer's keys.
    workload_identity: bool = True
    # What such a token's audience is under: <audience>/<namespace>/<name> of the application
    # (or <audience>/<name> from its own namespace); empty: the gateway's issuer.
    workload_audiences: CommaList = Field(default_factory=list)
    # One JSON line per answered request on stdout (gateway/audit.py; schema in the README).
    access_log: bool = True
    log_level: str = "INFO"

    @property
    def proxies(self) -> tuple[Network, ...]:
        return networks(self.trusted_proxies)

    @property
    def audiences(self) -> tuple[str, ...]:
        return tuple(self.workload_audiences) or (self.issuer,)

    @property
    def upstream_policy(self) -> UpstreamPolicy:
        return UpstreamPolicy(
            allow=tuple(self.upstream_allow),
            system_namespace=self.key_namespace,
            cluster_domain=self.cluster_domain,
            own_ports=frozenset({self.port, self.admin_port} - {0}),
        )


def env_name(field: str) -> str:
    """The environment variable the gateway reads ``field`` from."""
    return ENV_PREFIX + field.upper()


def to_env(config: GatewayConfig) -> dict[str, str]:
    """Every setting of ``config``, as the environment the gateway reads it back from."""
    return {env_name(name): _text(getattr(config, name)) for name in GatewayConfig.model_fields}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # "10", as a user writes it, not "10.0"
    return str(value)
