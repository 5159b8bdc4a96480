"""Prometheus metrics of the operator (prefix ``gatepass_``). Never a secret or its hash."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge

from gatepass.contract import ObjectKey
from gatepass.models.conditions import EXPIRING_SOON, INACTIVE_SOON, READY, find
from gatepass.models.servicetoken import ServiceTokenStatus

EXPIRATION = Gauge(
    "gatepass_service_token_expiration_timestamp_seconds",
    "When the ServiceToken's credentials expire (absent for duration: forever).",
    ["namespace", "name", "client_id"],
)
READY_GAUGE = Gauge(
    "gatepass_service_token_ready",
    "1 when the ServiceToken's credentials are issued, enabled and unexpired.",
    ["namespace", "name"],
)
EXPIRING = Gauge(
    "gatepass_service_token_expiring_soon",
    "1 when the ServiceToken is within alertBefore of expiry.",
    ["namespace", "name"],
)
INACTIVE = Gauge(
    "gatepass_service_token_inactive_soon",
    "1 when the ServiceToken is within a week of being disabled or deleted for inactivity.",
    ["namespace", "name"],
)
DELETED_INACTIVE = Counter(
    "gatepass_service_tokens_deleted_inactive_total",
    "ServiceTokens the operator deleted because nobody used them (spec.inactivity).",
)
ROLLOUTS = Counter(
    "gatepass_workload_restarts_total",
    "Workloads restarted after a rotation so they read the new secret (spec.rollout Auto).",
)
CREDENTIALS = Counter(
    "gatepass_service_token_credentials_written_total",
    "Client Secrets written to Secrets, by why (Issue, Reissue, Rotate).",
    ["action"],
)
API_REQUESTS = Counter(
    "gatepass_operator_api_requests_total",
    "Requests the operator sent the API server (its watches aside), by HTTP method.",
    ["method"],
)
API_THROTTLED = Counter(
    "gatepass_operator_api_throttled_seconds_total",
    "Time requests waited for the operator's client-side rate limit (GATEPASS_API_QPS/BURST).",
)
_client_ids: dict[ObjectKey, str] = {}


def observe(namespace: str, name: str, status: ServiceTokenStatus) -> None:
    key = (namespace, name)
    old = _client_ids.pop(key, None)
    if old is not None:  # the Client ID is a label: drop the old series before writing the new
        EXPIRATION.remove(namespace, name, old)
    if status.client_id and status.expires_at is not None:
        EXPIRATION.labels(namespace, name, status.client_id).set(status.expires_at.timestamp())
        _client_ids[key] = status.client_id
    ready = find(status.conditions, READY)
    READY_GAUGE.labels(namespace, name).set(1 if ready and ready.status == "True" else 0)
    for gauge, condition in ((EXPIRING, EXPIRING_SOON), (INACTIVE, INACTIVE_SOON)):
        found = find(status.conditions, condition)
        gauge.labels(namespace, name).set(1 if found and found.status == "True" else 0)


def forget(namespace: str, name: str) -> None:
    old = _client_ids.pop((namespace, name), None)
    if old is not None:
        EXPIRATION.remove(namespace, name, old)
    for gauge in (READY_GAUGE, EXPIRING, INACTIVE):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, name)
