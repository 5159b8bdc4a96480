"""Prometheus metrics of the gateway (prefix ``gatepass_gateway_``). No secrets, no JWTs."""

from __future__ import annotations

import contextlib

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
MINTED = Counter(
    "gatepass_gateway_jwts_minted_total",
    "Sessions handed out for credentials, by application (signed now, or reused: see signatures).",
    ["app"],
)
SIGNED = Counter(
    "gatepass_gateway_jwt_signatures_total",
    "JWTs signed (RS256); below jwts_minted_total by what reusing minted sessions saves.",
)
UPSTREAM_ERRORS = Counter(
    "gatepass_gateway_upstream_errors_total",
    "Allowed requests that got no answer from their upstream: upstream_busy (503, the "
    "application's slots full), upstream_timeout (504), upstream_unavailable (502).",
    ["app", "reason"],
)
RATE_LIMITED = Counter(
    "gatepass_gateway_rate_limited_total",
    "Requests refused with 429 by a token's rate limit, by token (namespace, name).",
    ["namespace", "name"],
)
LAST_SEEN_DROPPED = Counter(
    "gatepass_gateway_last_seen_dropped_total",
    "Last-use entries the API server refused twice (their shard full): not reported until the "
    "token's next use.",
)
OBJECTS = Gauge("gatepass_gateway_state_objects", "Objects in the gateway's watched state.", ["kind"])

PER_APP: tuple[tuple[Counter | Histogram, tuple[str, ...]], ...] = (
    (REQUESTS, ("app", "outcome")),
    (LATENCY, ("app",)),
    (MINTED, ("app",)),
    (UPSTREAM_ERRORS, ("app", "reason")),
)


def app_label(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def forget_app(label: str) -> None:
    """Drop every series of an application that is gone (a deleted object's series
    would otherwise be exported for the life of the process)."""
    for metric, names in PER_APP:
        for family in metric.collect():
            series = {
                tuple(s.labels[n] for n in names) for s in family.samples if s.labels.get("app") == label
            }
            for labels in series:
                with contextlib.suppress(KeyError):
                    metric.remove(*labels)


def forget_token(namespace: str, name: str) -> None:
    """Drop the series of a token that is gone (its rate-limit refusals)."""
    with contextlib.suppress(KeyError):
        RATE_LIMITED.remove(namespace, name)
