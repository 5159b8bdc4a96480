"""The local node: pods run, nothing leaves the machine, and stop leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from kubernetes import client

from tests.support.cluster import ROOT, ClusterInfo, localcluster
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(
    os.environ.get("GATEPASS_TEST_CLUSTER", "local") != "local" or not localcluster.node_wanted(),
    reason="the local backend's node only",
)


def _node(cluster: ClusterInfo) -> localcluster.LocalNode:
    assert cluster.local is not None
    assert cluster.local.local_node is not None
    return cluster.local.local_node


def _processes(record: localcluster.NodeRecord) -> list[str]:
    found = [f"process {pid}" for pid in record.pids if localcluster.clusternode._alive(pid)]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if record.datadir in cmdline:
                found.append(f"process {proc.name}: {cmdline[:80]}")
    return found


def _network(record: localcluster.NodeRecord) -> list[str]:
    addr = localcluster.clusternode.Addresses(record.index)
    found = [f"network namespace {addr.netns}"] if Path(f"/run/netns/{addr.netns}").exists() else []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    found += [
        f"link {name}" for name in (addr.host_if, addr.bridge) if f" {name}@" in links or f" {name}:" in links
    ]
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout
    found += [f"route {line}" for line in routes.splitlines() if f"10.244.{record.index}." in line]
    found += [f"route {line}" for line in routes.splitlines() if f"10.96.{record.index}." in line]
    return found


def leftovers(record: localcluster.NodeRecord) -> list[str]:
    """Everything of a node that is still on the machine."""
    found = _processes(record) + _network(record)
    mountinfo = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {line.split()[4]}" for line in mountinfo.splitlines() if record.datadir in line]
    for hierarchy in localcluster.clusternode._hierarchies():
        cg = hierarchy / record.cgroup_root.lstrip("/")
        if cg.exists():
            found.append(f"cgroup {cg}")
    found += [f"directory {d}" for d in record.made_dirs if Path(d).exists()]
    found += [
        f"{what} {p}" for what, p in (("record", record.path), ("data", Path(record.datadir))) if p.exists()
    ]
    return found


def test_node_is_ready_with_the_built_kubelet_and_containerd(
    api: client.ApiClient, cluster: ClusterInfo
) -> None:
    node = client.CoreV1Api(api).read_node(_node(cluster).addr.name)
    ready = next(c for c in node.status.conditions if c.type == "Ready")
    assert ready.status == "True"
    assert node.status.node_info.kubelet_version == localcluster.K8S_VERSION
    assert node.status.node_info.container_runtime_version.startswith("containerd://")
    assert not [t for t in node.spec.taints or [] if t.effect == "NoSchedule"], "node still tainted"


def test_a_pod_from_a_local_image_runs_and_a_registry_image_fails_clearly(
    api: client.ApiClient, cluster: ClusterInfo, namespace: str
) -> None:
    core = client.CoreV1Api(api)

    def pod(name: str, image: str) -> client.V1Pod:
        return client.V1Pod(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1PodSpec(
                containers=[client.V1Container(name="c", image=image, image_pull_policy="IfNotPresent")],
                termination_grace_period_seconds=0,
            ),
        )

    core.create_namespaced_pod(namespace, pod("local", localcluster.clusternode.PAUSE_IMAGE))
    core.create_namespaced_pod(namespace, pod("remote", "registry.example.com/nothing:1"))

    def phase(name: str) -> str:
        return str(core.read_namespaced_pod(name, namespace).status.phase)

    wait_for(lambda: phase("local") == "Running", timeout=60, what="pod from a local image Running")

    def pull_error() -> str:
        statuses = core.read_namespaced_pod("remote", namespace).status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        if waiting is not None and waiting.reason in ("ErrImagePull", "ImagePullBackOff"):
            return str(waiting.message or waiting.reason)
        return ""

    wait_for(pull_error, timeout=60, what="the registry image to fail")
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=remote").items
    messages = " ".join(e.message or "" for e in events)
    # No registry is reachable from the node: the pull fails at once, and says why.
    assert "network is unreachable" in messages or "no such host" in messages, messages


def test_the_node_has_no_route_off_the_machine(cluster: ClusterInfo) -> None:
    netns = _node(cluster).addr.netns
    for dest in ("192.0.2.1", "8.8.8.8", "10.255.255.53"):  # gateway, internet, the machine's resolver
        out = subprocess.run(
            ["nsenter", f"--net=/run/netns/{netns}", "ip", "route", "get", dest],
            capture_output=True,
            text=True,
        )
        assert out.returncode != 0, (dest, out.stdout)
        assert "unreachable" in out.stderr, (dest, out.stderr)
    svc = subprocess.run(
        ["nsenter", f"--net=/run/netns/{netns}", "ip", "route", "show", "type", "blackhole"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert _node(cluster).addr.service_cidr in svc.stdout


def test_stop_removes_everything_the_node_made() -> None:
    with tempfile.TemporaryDirectory(prefix="gatepass-nodetest-") as tmp:
        cluster = localcluster.LocalCluster(
            bindir=localcluster.build(), datadir=Path(tmp) / "data", node=True
        )
        try:
            cluster.start()
            assert cluster.local_node is not None
            record = cluster.local_node.record
            # Something for stop to clean: a running pod (mounts, a sandbox, cgroups, iptables).
            cluster.kubectl("run", "p", f"--image={localcluster.clusternode.PAUSE_IMAGE}", "--restart=Never")
            cluster.kubectl("wait", "--for=condition=Ready", "pod/p", "--timeout=60s")
            assert leftovers(record), "the check finds nothing even while the node runs"
        finally:
            cluster.stop()
        assert leftovers(record) == []


def test_a_node_whose_launcher_died_is_cleaned_up_by_the_next() -> None:
    """A launcher killed without stopping (a crashed test run): the next node claims
    the index and removes every leftover of the dead one first."""
    # Not pytest's tmp_path: from its 100th run (pytest-100/...) the node's containerd
    # socket path would pass the 104-character limit for Unix sockets.
    with tempfile.TemporaryDirectory(prefix="gpn-") as tmp:
        _launcher_died(Path(tmp))


def _launcher_died(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(ROOT / "tools" / "localcluster")!r})
        import localcluster
        from pathlib import Path
        data = Path({str(tmp_path)!r}) / "data"
        c = localcluster.LocalCluster(bindir=localcluster.build(), datadir=data, node=True)
        c.start()
        c.kubectl("run", "p", "--image={localcluster.clusternode.PAUSE_IMAGE}", "--restart=Never")
        c.kubectl("wait", "--for=condition=Ready", "pod/p", "--timeout=60s")
        print(c.local_node.record.index, flush=True)
        os.kill(os.getpid(), 9)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    try:
        assert out.stdout.strip(), f"the launcher printed no node index: {out.stderr[-2000:]}"
        index = int(out.stdout.strip())
        record = localcluster.NodeRecord.load(index)
        assert record is not None
        assert leftovers(record), "the crashed launcher left nothing to clean"
        second = localcluster.LocalNode.claim(localcluster.build(), tmp_path / "second")
        try:
            assert second.record.index == index
            assert not any(localcluster.clusternode._alive(p) for p in record.pids)
            assert not Path(record.datadir).exists()
        finally:
            second.stop()
        assert leftovers(record) == []
    finally:  # the dead launcher's control plane (not the node's business)
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and str(tmp_path) in (proc / "cmdline").read_text(errors="replace"):
                    os.kill(int(proc.name), 9)
            except OSError:
                pass
