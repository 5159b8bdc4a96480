"""The gateway's Deployment and Service, as pure functions of the operator's settings.

Applied with server-side apply, so an edit or deletion by someone else is put
back on the next reconcile (any watch event on them, or the operator's start).
"""

from __future__ import annotations

from typing import Any

from gatepass.contract import COMPONENT_LABEL, GATEWAY_COMPONENT, MANAGED_BY
from gatepass.operator.settings import OperatorSettings


def labels(settings: OperatorSettings) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "gatepass",
        "app.kubernetes.io/instance": settings.gateway_name,
        COMPONENT_LABEL: GATEWAY_COMPONENT,
        **MANAGED_BY,
    }


def selector(settings: OperatorSettings) -> dict[str, str]:
    """The labels that pick the gateway's pods (stable across upgrades)."""
    lab = labels(settings)
    return {k: lab[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance", COMPONENT_LABEL)}


def gateway_env(settings: OperatorSettings) -> dict[str, str]:
    """The gateway's whole configuration (tests run a local gateway with exactly this)."""
    return {
        "GATEPASS_ISSUER": settings.issuer,
        "GATEPASS_KEY_NAMESPACE": settings.namespace,
        "GATEPASS_KEY_SECRET": settings.key_secret,
        "GATEPASS_NAMESPACES": ",".join(settings.namespaces),
        "GATEPASS_PORT": str(settings.gateway_port),
        "GATEPASS_ADMIN_PORT": str(settings.gateway_admin_port),
        "GATEPASS_COOKIE_SECURE": str(settings.gateway_cookie_secure).lower(),
        "GATEPASS_LAST_SEEN_CONFIGMAP": settings.last_seen_configmap,
        "GATEPASS_LAST_SEEN_INTERVAL": str(settings.gateway_last_seen_interval),
        "GATEPASS_UPSTREAM_ALLOW": ",".join(settings.upstream_allow),
        "GATEPASS_CLUSTER_DOMAIN": settings.cluster_domain,
        "GATEPASS_TRUSTED_PROXIES": ",".join(settings.trusted_proxies),
        "GATEPASS_ACCESS_LOG": str(settings.gateway_access_log).lower(),
        "GATEPASS_WORKLOAD_IDENTITY": str(settings.gateway_workload_identity).lower(),
        "GATEPASS_WORKLOAD_AUDIENCES": ",".join(settings.gateway_workload_audiences),
        "GATEPASS_DRAIN_SECONDS": str(settings.gateway_drain_seconds),
        "GATEPASS_SHUTDOWN_TIMEOUT": str(settings.gateway_shutdown_timeout),
    }


def deployment(settings: OperatorSettings) -> dict[str, Any]:
    lab = labels(settings)
    probe = {"httpGet": {"path": "/healthz", "port": "admin"}, "periodSeconds": 10}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": settings.gateway_name, "namespace": settings.namespace, "labels": lab},
        "spec": {
            "replicas": settings.gateway_replicas,
            "selector": {"matchLabels": selector(settings)},
            # Never below the wanted replicas during a rollout: the gateway is on the request path.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": lab},
                "spec": {
                    "serviceAccountName": settings.gateway_service_account,
                    "automountServiceAccountToken": True,
                    # Service links would inject GATEPASS_GATEWAY_PORT=tcp://... next
                    # to the GATEPASS_* settings the gateway reads.
                    "enableServiceLinks": False,
                    # The drain, then requests in flight, then a margin: never SIGKILLed mid-answer.
                    "terminationGracePeriodSeconds": (
                        settings.gateway_drain_seconds + settings.gateway_shutdown_timeout + 5
                    ),
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "gateway",
                            "image": settings.gateway_image,
                            "imagePullPolicy": settings.gateway_image_pull_policy,
                            "args": ["gateway"],
                            "env": [{"name": k, "value": v} for k, v in gateway_env(settings).items()],
                            "ports": [
                                {"name": "http", "containerPort": settings.gateway_port},
                                {"name": "admin", "containerPort": settings.gateway_admin_port},
                            ],
                            "livenessProbe": probe,
                            "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": "admin"}},
                            "resources": {
                                "requests": {
                                    "cpu": settings.gateway_cpu_request,
                                    "memory": settings.gateway_memory_request,
                                },
                                "limits": {"memory": settings.gateway_memory_limit},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def service(settings: OperatorSettings) -> dict[str, Any]:
    """The public Service: application traffic only. The admin port (metrics, probes)
    is never on it, so a LoadBalancer type cannot publish it."""
    return _service(
        settings.gateway_name,
        settings,
        settings.gateway_service_type,
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
    )


def metrics_service_name(settings: OperatorSettings) -> str:
    return f"{settings.gateway_name}-metrics"


def metrics_service(settings: OperatorSettings) -> dict[str, Any]:
    """The admin port for Prometheus, inside the cluster only."""
    return _service(
        metrics_service_name(settings),
        settings,
        "ClusterIP",
        {"name": "metrics", "port": settings.gateway_admin_port, "targetPort": "admin", "protocol": "TCP"},
    )


def _service(name: str, settings: OperatorSettings, type_: str, port: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": labels(settings)},
        "spec": {"type": type_, "selector": selector(settings), "ports": [port]},
    }


def owned_by(obj: dict[str, Any], deployment: str, uid: str | None) -> dict[str, Any]:
    """obj, owned by the operator's Deployment when there is one: the garbage collector
    removes it with the operator. Not a controller reference and no blockOwnerDeletion,
    which would need delete rights on that Deployment."""
    if uid is None:
        return obj
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment, "uid": uid}
    return {**obj, "metadata": {**obj["metadata"], "ownerReferences": [ref]}}
