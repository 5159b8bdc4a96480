"""Which upstreams an AccessApplication may send traffic to.

The gateway connects to whatever an application names, from inside the cluster,
with a JWT attached: an unrestricted upstream would let any tenant aim it at
another namespace's Services, at cloud metadata endpoints, or at the gateway's
own admin port. The rule, applied by the operator (to report) and the gateway
(to refuse) alike:

1. never the gatepass namespace's Services (the gateway's, the operator's) for an
   application outside it, and never the gateway's own ports on loopback;
2. allowed by default: Services of the application's own namespace, named with
   the namespace (``svc.ns``, ``svc.ns.svc``, ``svc.ns.svc.<cluster domain>``);
3. anything else only through the allow-list the cluster admin sets
   (``GATEPASS_UPSTREAM_ALLOW``): exact hosts, ``*.suffix`` wildcards, CIDRs for
   IP literals, or ``*`` for everything.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True)
class UpstreamPolicy:
    allow: tuple[str, ...] = ()
    system_namespace: str = "gatepass-system"
    cluster_domain: str = "cluster.local"
    own_ports: frozenset[int] = field(default_factory=frozenset)  # the gateway's, on loopback

    def refusal(self, upstream: str, namespace: str) -> str | None:
        """None if ``namespace``'s application may use ``upstream``, else why not."""
        try:
            parts = urlsplit(upstream)
            port = parts.port
        except ValueError:
            return "is not a valid URL"
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            return "has no host"
        ip = _ip(host)
        loopback = host in LOOPBACK_NAMES or (ip is not None and ip.is_loopback)
        if loopback and (port or (443 if parts.scheme == "https" else 80)) in self.own_ports:
            return "is the gateway itself"
        if ip is not None and ip.is_unspecified:
            return "is not a routable address"
        svc_ns = self._service_namespace(host)
        if svc_ns == self.system_namespace and namespace != self.system_namespace:
            return f"is a Service of gatepass's own namespace ({self.system_namespace})"
        if svc_ns == namespace:
            return None
        if any(_matches(entry, host, ip) for entry in self.allow):
            return None
        if svc_ns is not None:
            return f"is a Service of namespace {svc_ns}, not {namespace}, and not on the upstream allow-list"
        if "." not in host and ip is None:
            return f"names no namespace: use {host}.{namespace}.svc for a Service of {namespace}"
        return "is outside the application's namespace and not on the cluster's upstream allow-list"

    def _service_namespace(self, host: str) -> str | None:
        """The namespace of a Service name (``svc.ns[.svc[.domain]]``), else None."""
        labels = host.split(".")
        for suffix in ((), ("svc",), ("svc", *self.cluster_domain.split("."))):
            n = len(suffix)
            if len(labels) == 2 + n and tuple(labels[2:]) == suffix and _ip(host) is None:
                return labels[1]
        return None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _matches(entry: str, host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    entry = entry.strip().lower().rstrip(".")
    if entry == "*":
        return True
    if ip is not None:
        try:
            return ip in ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    if entry.startswith("*."):
        return host.endswith(entry[1:])
    return host == entry
