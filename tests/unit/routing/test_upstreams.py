"""The upstream policy: an application reaches its own namespace's Services, what the
cluster admin allows, and never gatepass itself."""

from __future__ import annotations

import pytest

from gatepass.routing.upstreams import UpstreamPolicy

POLICY = UpstreamPolicy(
    allow=("*.partner.example", "api.example.com", "10.20.0.0/16"),
    system_namespace="gatepass-system",
    own_ports=frozenset({8000, 9091}),
)

ALLOWED = [
    ("http://reports.team-a", "team-a"),
    ("http://reports.team-a.svc:8080/base", "team-a"),
    ("https://reports.team-a.svc.cluster.local", "team-a"),
    ("https://x.partner.example", "team-a"),
    ("https://api.example.com:8443", "team-a"),
    ("http://10.20.3.4:8080", "team-a"),
    ("http://gatepass-gateway.gatepass-system.svc", "gatepass-system"),  # its own namespace
]
REFUSED = [
    ("http://reports.team-b.svc", "team-a", "namespace team-b"),
    ("http://reports.team-b.svc.cluster.local", "team-a", "namespace team-b"),
    ("http://reports", "team-a", "reports.team-a.svc"),
    ("http://gatepass-gateway-metrics.gatepass-system.svc:9091", "team-a", "gatepass's own namespace"),
    ("http://127.0.0.1:9091/metrics", "team-a", "the gateway itself"),
    ("http://localhost:8000", "team-a", "the gateway itself"),
    ("http://[::1]:9091", "team-a", "the gateway itself"),
    ("http://169.254.169.254/latest/meta-data", "team-a", "allow-list"),
    ("http://0.0.0.0:8080", "team-a", "routable"),
    ("https://evil.example.com", "team-a", "allow-list"),
    ("https://partner.example.evil.com", "team-a", "allow-list"),
]


@pytest.mark.parametrize(("upstream", "namespace"), ALLOWED)
def test_allowed(upstream: str, namespace: str) -> None:
    assert POLICY.refusal(upstream, namespace) is None


@pytest.mark.parametrize(("upstream", "namespace", "why"), REFUSED)
def test_refused_with_a_reason_that_says_what_to_do(upstream: str, namespace: str, why: str) -> None:
    refusal = POLICY.refusal(upstream, namespace)
    assert refusal is not None
    assert why in refusal


def test_star_allows_anything_but_gatepass_itself() -> None:
    anything = UpstreamPolicy(allow=("*",), own_ports=frozenset({9091}))
    assert anything.refusal("http://reports.team-b.svc", "team-a") is None
    assert anything.refusal("http://169.254.169.254", "team-a") is None
    assert anything.refusal("http://127.0.0.1:9091", "team-a") is not None
    assert anything.refusal("http://x.gatepass-system.svc", "team-a") is not None
