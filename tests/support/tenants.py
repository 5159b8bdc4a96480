"""Tenants as clusters grant them: a ServiceAccount bound to a Role in its own
namespace, often with `*` on gatepass's API group (status subresources included).
The tests act through that identity, never as admin, when they play a tenant."""

from __future__ import annotations

import uuid

from kubernetes import client

from tests.support.cluster import ClusterInfo

STAR_ON_GATEPASS = [client.V1PolicyRule(api_groups=["gatepass.dev"], resources=["*"], verbs=["*"])]


def new_namespace(api: client.ApiClient, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def tenant_api(
    cluster: ClusterInfo,
    api: client.ApiClient,
    namespace: str,
    rules: list[client.V1PolicyRule] | None = None,
) -> client.ApiClient:
    """An API client that is a ServiceAccount of ``namespace`` with a Role of ``rules``
    (default: `*` on gatepass.dev) there, and nothing else."""
    rbac = client.RbacAuthorizationV1Api(api)
    core = client.CoreV1Api(api)
    meta = client.V1ObjectMeta(name="tenant")
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata=meta))
    rbac.create_namespaced_role(namespace, client.V1Role(metadata=meta, rules=rules or STAR_ON_GATEPASS))
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=meta,
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="tenant"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="tenant", namespace=namespace)],
        ),
    )
    token = cluster.kubectl("create", "token", "tenant", "-n", namespace, "--duration=1h").stdout.strip()
    admin = api.configuration
    cfg = client.Configuration()
    cfg.host = admin.host
    cfg.ssl_ca_cert = admin.ssl_ca_cert
    cfg.verify_ssl = True
    cfg.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(cfg)
