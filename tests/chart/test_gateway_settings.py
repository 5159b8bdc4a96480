"""Every gateway value of the chart reaches the gateway's pods, under the name the gateway
reads, along the one path it takes: values.yaml → the operator Deployment's env →
OperatorSettings → the gateway Deployment the operator renders → GatewaySettings.

A value added to values.yaml but not here, a chart env name the operator does not read,
or a gateway setting the operator does not pass on fails one of these tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import yaml

from gatepass.contract import gateway_selector
from gatepass.gateway.settings import GatewaySettings
from gatepass.gatewayconfig import GatewayConfig, env_name
from gatepass.operator import manifests
from gatepass.operator.settings import OperatorSettings
from tests.support.chart import CHART, NAMESPACE, objects
from tests.support.settings import container_env, read_from

# Each gateway value of the chart that is a gateway setting: a value other than the
# default (JSON, for --set-json), the setting it is, and what the gateway must read.
SETTINGS: dict[str, tuple[str, str, object]] = {
    "gateway.issuer": ('"https://login.example.org"', "issuer", "https://login.example.org"),
    "gateway.cookieSecure": ("false", "cookie_secure", False),
    "gateway.strictServiceTokenAuth": ("true", "strict_service_token_auth", True),
    "gateway.accessLog": ("false", "access_log", False),
    "gateway.authorizeCacheSeconds": ("3", "authorize_cache_seconds", 3),
    "gateway.drainSeconds": ("7", "drain_seconds", 7.0),
    "gateway.shutdownTimeoutSeconds": ("21", "shutdown_timeout", 21.0),
    "gateway.workloadIdentity.enabled": ("false", "workload_identity", False),
    "gateway.workloadIdentity.audiences": (
        '["https://a.example", "https://b.example"]',
        "workload_audiences",
        ["https://a.example", "https://b.example"],
    ),
    "gateway.upstreamAllow": (
        '["*.svc.example", "10.0.0.0/8"]',
        "upstream_allow",
        ["*.svc.example", "10.0.0.0/8"],
    ),
    "gateway.trustedProxies": (
        '["192.0.2.0/24", "198.51.100.7"]',
        "trusted_proxies",
        ["192.0.2.0/24", "198.51.100.7"],
    ),
    "gateway.clusterDomain": ('"k8s.example"', "cluster_domain", "k8s.example"),
}

Objects = tuple[dict[str, Any], dict[str, Any]]  # the gateway Deployment and Service the operator renders


def _resources(dep: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = dep["spec"]["template"]["spec"]["containers"][0]["resources"]
    return resources


# ...and those that shape the gateway's Deployment or Service: where each lands.
SHAPE: dict[str, tuple[str, Callable[[Objects], object], object]] = {
    "gateway.replicas": ("3", lambda o: o[0]["spec"]["replicas"], 3),
    "gateway.service.type": ('"NodePort"', lambda o: o[1]["spec"]["type"], "NodePort"),
    "gateway.resources.requests.cpu": ('"250m"', lambda o: _resources(o[0])["requests"]["cpu"], "250m"),
    "gateway.resources.requests.memory": (
        '"200Mi"',
        lambda o: _resources(o[0])["requests"]["memory"],
        "200Mi",
    ),
    "gateway.resources.limits.memory": ('"300Mi"', lambda o: _resources(o[0])["limits"]["memory"], "300Mi"),
}
# ...and the chart's own objects for the gateway (test_the_chart_selects_the_pods_...).
CHART_ONLY = {"gateway.podDisruptionBudget.enabled", "gateway.podDisruptionBudget.minAvailable"}


def leaves(tree: Mapping[str, Any], path: str) -> Iterator[str]:
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            yield from leaves(value, f"{path}.{key}")
        else:
            yield f"{path}.{key}"


def operator_settings(helm: str, *args: str) -> OperatorSettings:
    (dep,) = [d for d in objects(helm, *args) if d["kind"] == "Deployment"]
    # GATEPASS_NAMESPACE is a fieldRef: the release's namespace.
    return read_from(OperatorSettings, {**container_env(dep), "GATEPASS_NAMESPACE": NAMESPACE})


def test_every_gateway_value_of_the_chart_is_accounted_for_here() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(leaves(values["gateway"], "gateway")) == SETTINGS.keys() | SHAPE.keys() | CHART_ONLY


def test_every_gateway_value_reaches_the_gateway_pods_under_the_name_the_gateway_reads(helm: str) -> None:
    args = [a for key, (value, *_) in {**SETTINGS, **SHAPE}.items() for a in ("--set-json", f"{key}={value}")]
    settings = operator_settings(helm, *args)
    dep, svc = manifests.deployment(settings), manifests.service(settings)
    env = container_env(dep)
    # The gateway's whole configuration, each under a name it reads, and nothing else.
    assert set(env) == {env_name(f) for f in GatewaySettings.model_fields}
    gateway = read_from(GatewaySettings, env)
    defaults = GatewayConfig()
    for key, (_, field, wanted) in SETTINGS.items():
        assert wanted != getattr(defaults, field), f"{key}: pick a value other than the default"
        assert getattr(gateway, field) == wanted, key
    for key, (_, where, wanted) in SHAPE.items():
        assert where((dep, svc)) == wanted, key
    # Read back, the gateway has exactly the configuration the operator holds for it.
    assert gateway.model_dump() == settings.gateway.model_dump()
    assert gateway.key_namespace == NAMESPACE
    assert gateway.key_secret == "gp-signing-keys"
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 7 + 21 + 5


def test_the_chart_selects_the_pods_of_the_gateway_the_operator_renders(helm: str) -> None:
    settings = operator_settings(helm)
    (pdb,) = [d for d in objects(helm) if d["kind"] == "PodDisruptionBudget"]
    dep = manifests.deployment(settings)
    assert pdb["spec"]["selector"]["matchLabels"] == gateway_selector(settings.gateway_name)
    assert dep["spec"]["selector"]["matchLabels"] == gateway_selector(settings.gateway_name)
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert pod_labels.items() >= gateway_selector(settings.gateway_name).items()
    assert manifests.service(settings)["spec"]["selector"] == gateway_selector(settings.gateway_name)
