"""The Helm chart rendered offline (`helm template`), as release `gp` in gatepass-system."""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from tests.support.cluster import ROOT, localcluster

CHART = ROOT / "charts" / "gatepass"
K8S = localcluster.K8S_VERSION.lstrip("v")
NAMESPACE = "gatepass-system"


def template(helm: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm, "template", "gp", str(CHART), "--namespace", NAMESPACE, "--kube-version", K8S, *args],
        capture_output=True,
        text=True,
        check=check,
    )


def objects(helm: str, *args: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(template(helm, *args).stdout) if d]
