"""What the README tells a user to type or wire matches what gatepass publishes.

An ingress wired to a port the README names but the Service does not publish times out;
a `make` target or a `kubectl gatepass` verb the README names but nobody defines is the
first error a new user sees. Each claim here is read from the README and checked against
the rendered chart (release `gatepass`, as the README installs it) and the code."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import yaml

from gatepass.operator import manifests
from gatepass.operator.settings import OperatorSettings
from gatepass.plugin import parser
from tests.support.cluster import ROOT, localcluster
from tests.support.settings import container_env, read_from

README = (ROOT / "README.md").read_text()
CHART = ROOT / "charts" / "gatepass"
NAMESPACE = "gatepass-system"


@pytest.fixture(scope="module")
def settings() -> OperatorSettings:
    """The operator's settings exactly as the README's `helm install gatepass ...` gives them."""
    helm = str(localcluster.build() / "helm")
    out = subprocess.run(
        [helm, "template", "gatepass", str(CHART), "--namespace", NAMESPACE],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (dep,) = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment"]
    # GATEPASS_NAMESPACE is a fieldRef: the release's namespace.
    return read_from(OperatorSettings, {**container_env(dep), "GATEPASS_NAMESPACE": NAMESPACE})


def test_the_gateway_service_and_port_the_readme_names_are_published(settings: OperatorSettings) -> None:
    svc = manifests.service(settings)
    claims = re.findall(r"Service \(`([a-z0-9-]+)`, port (\d+)\)", README)
    assert claims, "the README no longer names the gateway Service and its port"
    published = (svc["metadata"]["name"], {p["port"] for p in svc["spec"]["ports"]})
    for name, port in claims:
        assert name == published[0]
        assert int(port) in published[1], f"README says port {port}; the Service publishes {published[1]}"


def test_in_cluster_urls_in_the_readme_reach_a_published_port(settings: OperatorSettings) -> None:
    svc = manifests.service(settings)
    urls = re.findall(r"(https?)://([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local(?::(\d+))?", README)
    assert urls
    for scheme, name, ns, port in urls:
        assert (name, ns) == (svc["metadata"]["name"], NAMESPACE)
        wanted = int(port) if port else {"http": 80, "https": 443}[scheme]
        assert wanted in {p["port"] for p in svc["spec"]["ports"]}


def test_the_admin_port_and_metrics_service_are_as_the_readme_says(settings: OperatorSettings) -> None:
    (port,) = re.findall(r"Admin port \(default (\d+)\)", README)
    assert int(port) == settings.gateway.admin_port
    metrics = manifests.metrics_service(settings)
    assert f"Service `{metrics['metadata']['name']}`" in README
    assert {p["port"] for p in metrics["spec"]["ports"]} == {settings.gateway.admin_port}
    # ...and never on the public one.
    assert settings.gateway.admin_port not in {
        p["port"] for p in manifests.service(settings)["spec"]["ports"]
    }


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z][a-z0-9-]*)", README)) | set(
        re.findall(r"\bmake ([a-z][a-z0-9-]*)  ", README)
    )
    assert {"demo", "test"} <= named
    assert named <= targets, named - targets


def test_every_kubectl_gatepass_verb_the_readme_names_exists() -> None:
    verbs = set(re.findall(r"kubectl gatepass ([a-z][a-z-]*)", README))
    assert verbs
    for verb in verbs:
        parser().parse_known_args([verb, "x"])  # an unknown verb exits with a usage error


def test_every_value_the_readme_sets_is_in_the_chart() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    keys = set(re.findall(r"--set ([a-zA-Z][\w.]*)=", README))
    assert keys
    for key in keys:
        node: Any = values
        for part in key.split("."):
            assert isinstance(node, dict), f"--set {key}: {part} is below a leaf value"
            assert part in node, f"--set {key}: not a value of the chart"
            node = node[part]
