"""The gateway's Deployment and Service, as pure functions of the operator's settings.

Applied with server-side apply, so an edit or deletion by someone else is put
back on the next reconcile (any watch event on them, or the operator's start).
"""

from __future__ import annotations

from typing import Any

from gatepass.contract import gateway_labels, gateway_selector
from gatepass.gatewayconfig import to_env
from gatepass.operator.settings import OperatorSettings


def labels(settings: OperatorSettings) -> dict[str, str]:
    return gateway_labels(settings.gateway_name)


def selector(settings: OperatorSettings) -> dict[str, str]:
    """The labels that pick the gateway's pods (stable across upgrades)."""
    return gateway_selector(settings.gateway_name)


def gateway_env(settings: OperatorSettings) -> dict[str, str]:
    """The gateway's whole configuration (tests run a local gateway with exactly this)."""
    return to_env(settings.gateway)


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
                    "terminationGracePeriodSeconds": settings.gateway_grace_seconds,
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
                                {"name": "http", "containerPort": settings.gateway.port},
                                {"name": "admin", "containerPort": settings.gateway.admin_port},
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
        {"name": "metrics", "port": settings.gateway.admin_port, "targetPort": "admin", "protocol": "TCP"},
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
