"""The gateway imports kubernetes_asyncio lean (gateway/kubelean.py): the names it uses work,
and the hundreds of modules it does not use are never loaded. In a process of its own: this
one has imported the library whole already."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from gatepass.gateway import kubelean

PROBE = textwrap.dedent(
    """
    import asyncio, json, sys
    from gatepass.gateway import kubelean
    installed = kubelean.install()
    from gatepass.gateway import main  # everything the gateway imports
    from kubernetes_asyncio import client, config
    from kubernetes_asyncio.client.exceptions import ApiException
    before = sorted(m for m in sys.modules if m.startswith("kubernetes_asyncio"))
    async def answer():
        # the answer of the last-seen ConfigMap patch: a model, imported when first named
        async with client.ApiClient() as api:
            return api._ApiClient__deserialize(
                {"metadata": {"name": "a", "labels": {"x": "y"}}, "data": {"k": "v"}}, "V1ConfigMap"
            )
    cm = asyncio.run(answer())
    print(json.dumps({
        "installed": installed,
        "before": before,
        "names": [c.__name__ for c in (client.CoreV1Api, client.CustomObjectsApi, ApiException)],
        "config": callable(config.load_kube_config) and callable(config.load_incluster_config),
        "configmap": [type(cm).__name__, cm.metadata.name, cm.metadata.labels, cm.data],
        "missing": hasattr(client, "NoSuchThing"),
    }))
    """
)


def test_the_gateway_loads_only_the_parts_of_kubernetes_asyncio_it_uses() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout)
    assert seen["installed"] is True
    # The eager import loads over 800 modules (every API class and model).
    assert len(seen["before"]) < 30, seen["before"]
    assert "kubernetes_asyncio.client.models.v1_pod" not in seen["before"]
    assert seen["names"] == ["CoreV1Api", "CustomObjectsApi", "ApiException"]
    assert seen["config"] is True
    assert seen["configmap"] == ["V1ConfigMap", "a", {"x": "y"}, {"k": "v"}]
    assert seen["missing"] is False


def test_nothing_is_done_where_the_library_is_imported_already() -> None:
    import kubernetes_asyncio.client  # noqa: F401 - this process: imported whole

    assert kubelean.install() is False


def test_a_packages_names_are_read_from_its_init(tmp_path: Path) -> None:
    init = tmp_path / "__init__.py"
    init.write_text(
        "from kubernetes_asyncio.client.api.core_v1_api import CoreV1Api\n"
        "from kubernetes_asyncio.client.models.v1_pod import V1Pod\nimport os\n"
    )
    assert kubelean.names_in(init) == {
        "CoreV1Api": "kubernetes_asyncio.client.api.core_v1_api",
        "V1Pod": "kubernetes_asyncio.client.models.v1_pod",
    }
    assert kubelean.names_in(tmp_path / "missing.py") == {}
