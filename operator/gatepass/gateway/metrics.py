"""Prometheus metrics of the gateway (prefix ``gatepass_gateway_``). No secrets, no JWTs."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "gatepass_gateway_requests_total",
    "Requests by application (namespace/name) and outcome (allowed, bypass, or why refused).",
    ["app", "outcome"],
)
LATENCY = Histogram(
    "gatepass_gateway_request_duration_seconds",
    "Time from request to the end of the response, upstream included.",
    ["app"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
MINTED = Counter("gatepass_gateway_jwts_minted_total", "Session JWTs minted, by application.", ["app"])
OBJECTS = Gauge("gatepass_gateway_state_objects", "Objects in the gateway's watched state.", ["kind"])
