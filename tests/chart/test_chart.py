"""The Helm chart, offline: lint, schema-valid output, CRDs that cannot drift, values schema."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gatepass.contract import last_seen_shards
from gatepass.gatewayconfig import GatewayConfig
from gatepass.operator.settings import SHARED, OperatorSettings, gateway_env_name
from tests.support.chart import CHART, K8S, objects, template
from tests.support.cluster import ROOT, localcluster

EVERYTHING = [
    "--set",
    "metrics.serviceMonitor.enabled=true",
    "--set",
    "metrics.prometheusRule.enabled=true",
    "--set",
    "metrics.dashboard.enabled=true",
    "--set",
    "operator.rollout.enabled=true",
    "--set",
    "traefik.middleware.enabled=true",
]


def test_helm_lint_is_clean(helm: str) -> None:
    out = subprocess.run([helm, "lint", str(CHART), "--strict", *EVERYTHING], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[WARNING]" not in out.stdout
    assert "[ERROR]" not in out.stdout


def test_rendered_objects_validate_against_the_kubernetes_schemas(helm: str) -> None:
    docs = objects(helm, *EVERYTHING)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ClusterRole", "Role", "ServiceAccount", "CustomResourceDefinition"} <= kinds
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            assert doc["kind"] in ("ServiceMonitor", "PrometheusRule")
            continue  # not a Kubernetes kind; the Prometheus operator validates these
        if doc["apiVersion"].startswith("traefik.io/"):
            assert doc["kind"] == "Middleware"
            continue  # Traefik's CRD validates it (tests/e2e/test_traefik.py applies them)
        kubernetes_validate.validate(doc, K8S, strict=True)


def test_chart_crds_are_the_repository_crds(helm: str) -> None:
    repo = {p.name: p.read_bytes() for p in (ROOT / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "files" / "crds").glob("*.yaml")}
    assert chart == repo, "charts/gatepass/files/crds differs from crds/: run `make chart-crds`"
    rendered = {d["metadata"]["name"]: d for d in objects(helm) if d["kind"] == "CustomResourceDefinition"}
    for text in repo.values():
        crd = yaml.safe_load(text)
        got = rendered[crd["metadata"]["name"]]
        assert got["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
        assert got == crd


def test_crds_can_be_left_out_or_not_kept(helm: str) -> None:
    assert not [
        d for d in objects(helm, "--set", "crds.enabled=false") if d["kind"] == "CustomResourceDefinition"
    ]
    unkept = [d for d in objects(helm, "--set", "crds.keep=false") if d["kind"] == "CustomResourceDefinition"]
    assert unkept
    assert all("annotations" not in d["metadata"] for d in unkept)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "operator.replicas=two"], "/operator/replicas"),
        (["--set", "gateway.replicas=-1"], "/gateway/replicas"),
        (["--set", "operatr.replicas=1"], "additional properties 'operatr' not allowed"),
        (["--set", "gateway.service.type=Ingress"], "/gateway/service/type"),
        (["--set", "gateway.issuer=gatepass.example.com"], "/gateway/issuer"),
        (["--set", "operator.keyRotation=6 weeks"], "/operator/keyRotation"),
    ],
)
def test_bad_values_fail_with_a_schema_message(helm: str, args: list[str], message: str) -> None:
    out = template(helm, *args, check=False)
    assert out.returncode != 0
    assert message in out.stderr


def test_every_rbac_rule_says_why() -> None:
    for path in (CHART / "templates").glob("rbac-*.yaml"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("- apiGroups:"):
                assert lines[i - 1].strip().startswith("#"), f"{path.name}:{i + 1}: rule without a comment"


def test_gateway_can_read_only_its_one_secret(helm: str) -> None:
    docs = objects(helm)
    gateway_rules = [
        rule
        for d in docs
        if d["kind"] in ("Role", "ClusterRole") and d["metadata"]["name"] == "gp-gateway"
        for rule in d["rules"]
    ]
    secret_rules = [r for r in gateway_rules if "secrets" in r.get("resources", [])]
    assert secret_rules == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["gp-signing-keys"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    writes = [r for r in gateway_rules if set(r["verbs"]) - {"get", "list", "watch"}]
    assert writes == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [*last_seen_shards("gp-last-seen"), "gp-last-seen"],  # 0.2's, in upgrades
            "verbs": ["get", "patch"],
        }
    ]


def test_gateway_reads_pods_and_accounts_only_when_workload_identity_is_on(helm: str) -> None:
    def gateway_rules(*values: str) -> list[dict[str, Any]]:
        return [
            rule
            for d in objects(helm, *values)
            if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "gp-gateway"
            for rule in d["rules"]
        ]

    on = gateway_rules()
    assert {"apiGroups": [""], "resources": ["pods", "serviceaccounts"], "verbs": ["list", "watch"]} in on
    assert {
        "nonResourceURLs": ["/.well-known/openid-configuration", "/openid/v1/jwks"],
        "verbs": ["get"],
    } in on
    off = gateway_rules("--set", "gateway.workloadIdentity.enabled=false")
    assert off == [r for r in on if "pods" not in r.get("resources", []) and "nonResourceURLs" not in r]
    assert len(off) == len(on) - 2


def test_the_operator_may_restart_workloads_only_when_rollout_is_enabled(helm: str) -> None:
    def workload_writes(*values: str) -> list[dict[str, Any]]:
        return [
            rule
            for d in objects(helm, *values)
            # (its namespaced Role runs the gateway Deployment in its own namespace)
            if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "gp-operator"
            for rule in d["rules"]
            if "apps" in rule.get("apiGroups", []) and set(rule["verbs"]) - {"get", "list", "watch"}
        ]

    def env(*values: str) -> dict[str, str]:
        (dep,) = [d for d in objects(helm, *values) if d["kind"] == "Deployment"]
        return {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}

    assert workload_writes() == []
    assert env()["GATEPASS_ROLLOUT"] == "false"
    on = ("--set", "operator.rollout.enabled=true")
    assert workload_writes(*on) == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "statefulsets", "daemonsets"],
            "verbs": ["list", "patch"],
        }
    ]
    assert env(*on)["GATEPASS_ROLLOUT"] == "true"
    assert env()["GATEPASS_ROLLOUT_SETTLE_PERIOD"] == "600"
    assert env("--set", "operator.rollout.settlePeriodSeconds=120")["GATEPASS_ROLLOUT_SETTLE_PERIOD"] == "120"


def test_operator_pod_is_locked_down(helm: str) -> None:
    (dep,) = [d for d in objects(helm) if d["kind"] == "Deployment"]
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"  # not ready is not dead
    assert container["resources"]["limits"]["memory"]


def test_operator_env_names_real_settings(helm: str) -> None:
    (dep,) = [d for d in objects(helm) if d["kind"] == "Deployment"]
    names = {e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    fields = {f"GATEPASS_{f.upper()}" for f in OperatorSettings.model_fields if f != "gateway"}
    # The gateway's own settings, nested (the shared ones are the operator's, above).
    fields |= {gateway_env_name(f) for f in GatewayConfig.model_fields if f not in {*SHARED, "key_namespace"}}
    assert names <= fields, names - fields
    assert {"GATEPASS_NAMESPACE", "GATEPASS_ISSUER", "GATEPASS_GATEWAY_IMAGE", "GATEPASS_KEY_SECRET"} <= names


def test_prometheus_rules_cover_expiry_and_gateway_errors(helm: str) -> None:
    (rule,) = [d for d in objects(helm, *EVERYTHING) if d["kind"] == "PrometheusRule"]
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "GatepassServiceTokenExpiringSoon",
        "GatepassServiceTokenExpired",
        "GatepassGateway5xx",
    }
    assert re.search(r"< 604800\b", alerts["GatepassServiceTokenExpiringSoon"])
    (dash,) = [d for d in objects(helm, *EVERYTHING) if d["kind"] == "ConfigMap"]
    assert "gatepass_gateway_requests_total" in dash["data"]["gatepass.json"]


def test_helm_is_built_like_its_release(helm: str) -> None:
    """Built without its release ldflags, helm assumes Kubernetes v1.20 and refuses
    the chart (kubeVersion >=1.31) unless every command passes --kube-version."""
    version = subprocess.run([helm, "version", "--template", "{{.Version}}"], capture_output=True, text=True)
    assert version.stdout == localcluster.HELM_VERSION
    out = subprocess.run([helm, "template", "gp", str(CHART)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "kind: Deployment" in out.stdout


def test_pods_get_no_service_links(helm: str) -> None:
    """A Service named gatepass-gateway would put GATEPASS_GATEWAY_PORT=tcp://... into
    the environment of pods started after it, where the settings read GATEPASS_*."""
    from gatepass.operator import manifests

    (dep,) = [d for d in objects(helm) if d["kind"] == "Deployment"]
    assert dep["spec"]["template"]["spec"]["enableServiceLinks"] is False
    gateway = manifests.deployment(OperatorSettings(namespace="gatepass-system"))
    assert gateway["spec"]["template"]["spec"]["enableServiceLinks"] is False


def test_tenant_roles_aggregate_into_the_builtin_ones_without_status(helm: str) -> None:
    roles = {d["metadata"]["name"]: d for d in objects(helm) if d["kind"] == "ClusterRole"}
    edit, view = roles["gp-edit"], roles["gp-view"]
    assert {k for k, v in edit["metadata"]["labels"].items() if "aggregate-to" in k and v == "true"} == {
        "rbac.authorization.k8s.io/aggregate-to-admin",
        "rbac.authorization.k8s.io/aggregate-to-edit",
    }
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    for role in (edit, view):
        resources = {r for rule in role["rules"] for r in rule["resources"]}
        assert resources == {"servicetokens", "accessapplications", "accesspolicies"}  # no status, no secrets
    assert {v for rule in view["rules"] for v in rule["verbs"]} == {"get", "list", "watch"}
    off = {d["metadata"]["name"] for d in objects(helm, "--set", "tenantRoles.enabled=false")}
    assert not {"gp-edit", "gp-view"} & off


def test_the_operator_reads_http_routes_unless_turned_off(helm: str) -> None:
    def route_rules(*values: str) -> list[dict[str, Any]]:
        return [
            rule
            for d in objects(helm, *values)
            if d["kind"] in ("ClusterRole", "Role") and d["metadata"]["name"] == "gp-operator"
            for rule in d["rules"]
            if "gateway.networking.k8s.io" in rule.get("apiGroups", [])
        ]

    def env(*values: str) -> dict[str, str]:
        (dep,) = [d for d in objects(helm, *values) if d["kind"] == "Deployment"]
        return {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}

    # Read only, and only HTTPRoutes (spec.targetRefs): never written.
    assert route_rules() == [
        {
            "apiGroups": ["gateway.networking.k8s.io"],
            "resources": ["httproutes"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    assert env()["GATEPASS_HTTP_ROUTES"] == "true"
    off = ("--set", "operator.httpRoutes.enabled=false")
    assert route_rules(*off) == []
    assert env(*off)["GATEPASS_HTTP_ROUTES"] == "false"
