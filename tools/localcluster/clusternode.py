"""A Kubernetes node beside the local control plane: real pods on this machine.

Standard library only. The node lives in namespaces of its own, so what it
makes can be removed completely and cannot reach anything off the machine:

* **network**: one network namespace per node (``gatepass-node<N>``), joined to
  the host by a veth pair. Inside: the pod bridge, kube-proxy's iptables rules,
  CoreDNS and a blackhole route for the Service range. There is *no default
  route*, so a packet to anywhere but this machine is unroutable by
  construction; a filter on top lets pods reach each other, cluster DNS and the
  API server's port, and nothing else of the host. DNS has no forwarder.
* **mounts**: every node process shares one private mount namespace (held by a
  ``pause`` process), so the kubelet's volume mounts, containerd's overlays and
  pod network namespaces never appear on the host and vanish with the node.
* **cgroups**: pods go under the launcher's own memory cgroup
  (``cgroupRoot`` = ``<launcher's cgroup>/gatepass-node<N>``), so they are
  accounted with the run that made them; ``stop`` removes what the kubelet made.

Addresses for node N: host end of the veth 10.243.N.1 (the API server serves
there), node end 10.243.N.2, pods 10.244.N.0/24 (bridge 10.244.N.1, which is
also the DNS server), Services 10.96.N.0/24. The host routes pods and Services
into the node (never out of the machine).

``stop`` ends exactly the processes of its node (by PID, by the node's network
namespace, by its cgroups), then removes the namespace, cgroups and files. A
node whose launcher died is found and cleaned up by the next ``claim``.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from clusterbuild import ensure_debian_packages

RUN = Path("/run/gatepass")  # node records, one per claimed index
NETNS_PREFIX = "gatepass-node"
MAX_NODES = 32
# containerd's limit for a Unix socket path (sun_path is 108 bytes on Linux; it keeps 104).
UNIX_PATH_MAX = 104
PAUSE_IMAGE = "localhost/gatepass/pause:1"
# The kubelet insists on these kernel settings (it has no "warn only" mode); the
# first node records the machine's values and the last one to stop puts them back.
KERNEL_TUNABLES = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
PACKAGES = {  # program -> Debian package that has it
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "conntrack": "conntrack",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
}


class NodeUnavailable(RuntimeError):
    """This machine cannot run a node (not root, or programs missing)."""


def log(msg: str) -> None:
    print(f"[localnode] {msg}", file=sys.stderr, flush=True)


def _run(*cmd: str, check: bool = True, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    if netns is not None:
        cmd = ("nsenter", f"--net=/run/netns/{netns}", "--", *cmd)
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=60)


def ensure_prerequisites() -> None:
    """Install the runtime from Debian when missing and we are root; else say what is missing."""
    if os.geteuid() != 0:
        raise NodeUnavailable(
            "the local node needs root (network namespaces, mounts, cgroups); "
            "run as root or set GATEPASS_NODE=0 for the control plane alone"
        )
    try:
        installed = ensure_debian_packages(PACKAGES, "the local node")
    except RuntimeError as e:
        raise NodeUnavailable(str(e)) from None
    if "containerd" in installed:
        # Debian's package may start a system instance of its own; ours is separate,
        # but leave the machine as it was.
        subprocess.run(["service", "containerd", "stop"], capture_output=True, check=False)


@dataclass
class Addresses:
    index: int

    netns = property(lambda self: f"{NETNS_PREFIX}{self.index}")
    name = property(lambda self: f"gatepass-node{self.index}")  # the Node object's name
    host_ip = property(lambda self: f"10.243.{self.index}.1")
    node_ip = property(lambda self: f"10.243.{self.index}.2")
    pod_cidr = property(lambda self: f"10.244.{self.index}.0/24")
    bridge_ip = property(lambda self: f"10.244.{self.index}.1")
    service_cidr = property(lambda self: f"10.96.{self.index}.0/24")
    host_if = property(lambda self: f"gpn{self.index}h")
    node_if = property(lambda self: f"gpn{self.index}n")
    bridge = property(lambda self: f"gpbr{self.index}")


@dataclass
class NodeRecord:
    """What a node made, kept in /run/gatepass so that any later process can undo it."""

    index: int
    launcher: int  # the process whose lifetime bounds the node's; 0: detached (`up`)
    datadir: str
    cgroup_root: str
    pids: list[int] = field(default_factory=list)
    made_dirs: list[str] = field(default_factory=list)  # cgroup and host dirs to remove, deepest first

    @property
    def path(self) -> Path:
        return RUN / f"node{self.index}.json"

    def abandoned(self) -> bool:
        """A node outlives its launcher only when detached; a detached node is
        abandoned once none of its processes runs."""
        if self.launcher:
            return not _alive(self.launcher)
        return not any(_alive(p) for p in self.pids)

    def save(self) -> None:
        RUN.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(self.path)

    @classmethod
    def load(cls, index: int) -> NodeRecord | None:
        try:
            return cls(**json.loads((RUN / f"node{index}.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _own_memory_cgroup() -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return path
    return "/"  # pure cgroup v2: the unified path (same for every controller)


def _hierarchies() -> list[Path]:
    """Every mounted cgroup hierarchy (v1 controllers, the v2 unified one)."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" - ", 1)
        if len(fields) == 2 and fields[1].split()[0] in ("cgroup", "cgroup2"):
            out.append(Path(fields[0].split()[4]))
    return out


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below path in *this* mount namespace."""
    prefix = str(path.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return found


class LocalNode:
    """One node: containerd, kubelet, kube-proxy and CoreDNS in the node's namespaces."""

    def __init__(self, bindir: Path, datadir: Path, record: NodeRecord) -> None:
        self.bindir = bindir
        self.dir = datadir
        self.record = record
        self.addr = Addresses(record.index)
        self.holder = 0  # the process that holds the node's mount namespace
        self._procs: list[subprocess.Popen[bytes]] = []  # reaped by stop

    # -- claiming an index and its network -------------------------------------------

    @classmethod
    def claim(cls, bindir: Path, datadir: Path) -> LocalNode:
        """Take the lowest free node index (cleaning up nodes whose launcher died) and
        create its network namespace; the namespace's creation is the lock."""
        ensure_prerequisites()
        RUN.mkdir(parents=True, exist_ok=True)
        for index in range(MAX_NODES):
            old = NodeRecord.load(index)
            if old is not None:
                if not old.abandoned():
                    continue
                log(f"cleaning up node {index} left by an earlier run (pid {old.launcher})")
                cleanup(old)
            elif Path(f"/run/netns/{NETNS_PREFIX}{index}").exists():
                continue  # being claimed right now by someone else
            if _run("ip", "netns", "add", f"{NETNS_PREFIX}{index}", check=False).returncode:
                continue
            record = NodeRecord(
                index=index,
                launcher=os.getpid(),
                datadir=str(datadir),
                cgroup_root=f"{_own_memory_cgroup().rstrip('/')}/gatepass-node{index}",
            )
            record.save()
            node = cls(bindir, datadir, record)
            try:
                node._network()
            except BaseException:
                cleanup(record)
                raise
            return node
        raise NodeUnavailable(f"all {MAX_NODES} local node slots are in use (see {RUN})")

    def _network(self) -> None:
        a = self.addr
        ns = a.netns
        _run("ip", "link", "add", a.host_if, "type", "veth", "peer", "name", a.node_if, "netns", ns)
        _run("ip", "addr", "add", f"{a.host_ip}/30", "dev", a.host_if)
        _run("ip", "link", "set", a.host_if, "up")
        # Pods and Services are reached through the node; these routes go with the veth.
        _run("ip", "route", "add", a.pod_cidr, "via", a.node_ip, "dev", a.host_if)
        _run("ip", "route", "add", a.service_cidr, "via", a.node_ip, "dev", a.host_if)
        inside = [
            ("ip", "link", "set", "lo", "up"),
            ("ip", "addr", "add", f"{a.node_ip}/30", "dev", a.node_if),
            ("ip", "link", "set", a.node_if, "up"),
            ("ip", "link", "add", a.bridge, "type", "bridge"),
            ("ip", "addr", "add", f"{a.bridge_ip}/24", "dev", a.bridge),
            ("ip", "link", "set", a.bridge, "up"),
            # A Service address kube-proxy did not translate is dropped, never routed.
            ("ip", "route", "add", "blackhole", a.service_cidr),
            ("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"),
            ("sh", "-c", "echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables"),
        ]
        for cmd in inside:
            _run(*cmd, netns=ns)

    def firewall(self, api_port: int) -> None:
        """Pods may reach each other, the node's DNS and the API server; nothing else."""
        a = self.addr
        established = "-m conntrack --ctstate ESTABLISHED,RELATED -j RETURN"
        rules = [
            "-N GATEPASS-POD-EGRESS",
            f"-A GATEPASS-POD-EGRESS {established}",
            f"-A GATEPASS-POD-EGRESS -o {a.bridge} -j RETURN",
            f"-A GATEPASS-POD-EGRESS -o {a.node_if} -d {a.host_ip} -p tcp --dport {api_port} -j RETURN",
            "-A GATEPASS-POD-EGRESS -j DROP",
            f"-I FORWARD 1 -i {a.bridge} -j GATEPASS-POD-EGRESS",
            "-N GATEPASS-POD-INPUT",
            f"-A GATEPASS-POD-INPUT {established}",
            f"-A GATEPASS-POD-INPUT -d {a.bridge_ip} -p udp --dport 53 -j RETURN",
            f"-A GATEPASS-POD-INPUT -d {a.bridge_ip} -p tcp --dport 53 -j RETURN",
            "-A GATEPASS-POD-INPUT -j DROP",
            f"-I INPUT 1 -i {a.bridge} -j GATEPASS-POD-INPUT",
        ]
        for rule in rules:
            _run("iptables", "-w", *rule.split(), netns=a.netns)

    # -- processes ---------------------------------------------------------------------

    def _spawn(self, name: str, cmd: list[str], in_mounts: bool = True) -> int:
        logf = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        enter = ["nsenter", f"--net=/run/netns/{self.addr.netns}"]
        if in_mounts:
            enter = ["nsenter", f"--target={self.holder}", "--mount", "--net"]
        proc = subprocess.Popen(
            [*enter, "--", *cmd],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.dir,
        )
        logf.close()
        self._procs.append(proc)
        self.record.pids.append(proc.pid)
        self.record.save()
        return proc.pid

    def _made_dir(self, path: Path) -> None:
        """Create path (and parents), remembering each directory that did not exist."""
        missing = []
        p = path
        while not p.exists():
            missing.append(p)
            p = p.parent
        path.mkdir(parents=True, exist_ok=True)
        self.record.made_dirs.extend(str(m) for m in missing)  # deepest first
        self.record.save()

    def start(self, kubeconfig: Path, api_port: int, ca_file: Path, deadline: float) -> None:
        d = self.dir
        d.mkdir(parents=True, exist_ok=True)
        self.firewall(api_port)
        self._save_kernel_tunables()
        for p in ("/run/containerd", "/var/log/containers"):
            self._made_dir(Path(p))
        # The mount namespace: private to the node, shared among its processes (the
        # kubelet's volume mounts must propagate to containers). tmpfs over the paths
        # containerd and the kubelet hard-code, so nothing of theirs lands on the host.
        holder_script = (
            "mount --make-rprivate / && mount --make-rshared / && "
            "mount -t tmpfs -o mode=0711 tmpfs /run/containerd && "
            "mount -t tmpfs -o mode=0755 tmpfs /var/log/containers && "
            f"exec {self.bindir / 'pause'}"
        )
        logf = open(d / "holder.log", "ab")  # noqa: SIM115
        holder = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "unchanged",
                "--",
                "nsenter",
                f"--net=/run/netns/{self.addr.netns}",
                "--",
                "sh",
                "-c",
                holder_script,
            ],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        logf.close()
        self._procs.append(holder)
        self.holder = holder.pid
        self.record.pids.append(holder.pid)
        self.record.save()
        self._wait_holder(deadline)

        self._cgroups()
        self._write_configs(kubeconfig, ca_file)
        sock = d / "containerd" / "containerd.sock"
        longest = f"{sock}.ttrpc"
        if len(longest) > UNIX_PATH_MAX:  # containerd would fail later with only a log line
            raise ValueError(
                f"the node's data directory is too deep for a Unix socket ({len(longest)} > "
                f"{UNIX_PATH_MAX} characters in {longest}): use a shorter datadir"
            )
        self._spawn("containerd", ["containerd", f"--config={d / 'containerd.toml'}"])
        _wait(lambda: sock.exists(), deadline, "containerd socket", d / "containerd.log")
        self.import_image(self._pause_archive(), PAUSE_IMAGE)
        self._spawn(
            "kubelet",
            [
                str(self.bindir / "localnode"),
                "kubelet",
                f"--config={d / 'kubelet.yaml'}",
                f"--kubeconfig={kubeconfig}",
                f"--hostname-override={self.addr.name}",
                f"--node-ip={self.addr.node_ip}",
                f"--root-dir={d / 'kubelet'}",
                "--v=1",
            ],
        )
        self._spawn(
            "kube-proxy", [str(self.bindir / "localnode"), "proxy", f"--config={d / 'kube-proxy.yaml'}"]
        )
        self._spawn("coredns", [str(self.bindir / "coredns"), "-conf", str(d / "Corefile")])

    def _wait_holder(self, deadline: float) -> None:
        def ready() -> bool:
            if not _alive(self.holder):
                raise RuntimeError(f"node namespace holder exited: {(self.dir / 'holder.log').read_text()}")
            try:
                exe = os.readlink(f"/proc/{self.holder}/exe")
            except OSError:
                return False
            return exe.endswith("/pause")

        _wait(ready, deadline, "node mount namespace", self.dir / "holder.log")

    def _cgroups(self) -> None:
        """Pods go under the launcher's memory cgroup; remember what gets created so that
        stop removes exactly that (the kubelet creates the same path in every hierarchy)."""
        for hierarchy in _hierarchies():
            self._made_dir(hierarchy / self.record.cgroup_root.lstrip("/"))

    def _save_kernel_tunables(self) -> None:
        saved = RUN / "kernel-tunables.json"
        if saved.exists():
            return
        values = {k: Path("/proc/sys", k).read_text().strip() for k in KERNEL_TUNABLES}
        saved.write_text(json.dumps(values))

    def _write_configs(self, kubeconfig: Path, ca_file: Path) -> None:
        d, a = self.dir, self.addr
        ctrd = d / "containerd"
        (d / "cni").mkdir(parents=True, exist_ok=True)
        (d / "containerd.toml").write_text(
            f"""version = 2
root = "{ctrd / "root"}"
state = "{ctrd / "state"}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{ctrd / "containerd.sock"}"
[ttrpc]
  address = "{ctrd / "containerd.sock.ttrpc"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d / "cni"}"
"""
        )
        (d / "cni" / "10-gatepass.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "gatepass",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": a.bridge,
                            "isGateway": True,
                            "ipMasq": False,  # nothing is translated on its way out: there is no out
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": a.pod_cidr, "gateway": a.bridge_ip}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": str(d / "cni-ipam"),
                            },
                        }
                    ],
                },
                indent=1,
            )
        )
        (d / "kubelet.yaml").write_text(
            json.dumps(
                {
                    "apiVersion": "kubelet.config.k8s.io/v1beta1",
                    "kind": "KubeletConfiguration",
                    "failCgroupV1": False,
                    "cgroupDriver": "cgroupfs",
                    "cgroupRoot": self.record.cgroup_root,
                    "containerRuntimeEndpoint": f"unix://{ctrd / 'containerd.sock'}",
                    "address": a.node_ip,
                    "readOnlyPort": 0,
                    "healthzBindAddress": "127.0.0.1",
                    "authentication": {
                        "anonymous": {"enabled": False},
                        "webhook": {"enabled": True},
                        "x509": {"clientCAFile": str(ca_file)},
                    },
                    "authorization": {"mode": "Webhook"},
                    "clusterDNS": [a.bridge_ip],
                    "clusterDomain": "cluster.local",
                    "resolvConf": "",  # pods never see the host's resolver
                    "podLogsDir": str(d / "pod-logs"),
                    "failSwapOn": False,
                    "enableControllerAttachDetach": False,
                    # Secrets mounted as volumes follow changes within ~10 s.
                    "syncFrequency": "10s",
                    # Locally built images cannot be pulled again: never collect them,
                    # never evict for a disk that is merely fuller than a cloud node's.
                    "imageGCHighThresholdPercent": 100,
                    "imageGCLowThresholdPercent": 99,
                    "evictionHard": {
                        "memory.available": "100Mi",
                        "nodefs.available": "1%",
                        "imagefs.available": "1%",
                    },
                    "serializeImagePulls": False,
                    "shutdownGracePeriod": "0s",
                }
            )
        )
        (d / "kube-proxy.yaml").write_text(
            json.dumps(
                {
                    "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                    "kind": "KubeProxyConfiguration",
                    "clientConnection": {"kubeconfig": str(kubeconfig)},
                    "mode": "iptables",
                    "clusterCIDR": a.pod_cidr,
                    "hostnameOverride": a.name,
                    "bindAddress": a.node_ip,
                    "healthzBindAddress": "127.0.0.1:10256",
                    "metricsBindAddress": "127.0.0.1:10249",
                    # The node's namespace is not the machine's: leave the kernel's
                    # conntrack settings alone.
                    "conntrack": {
                        "maxPerCore": 0,
                        "min": 0,
                        "tcpEstablishedTimeout": "0s",
                        "tcpCloseWaitTimeout": "0s",
                    },
                    "iptables": {"masqueradeAll": False, "localhostNodePorts": False},
                }
            )
        )
        (d / "Corefile").write_text(
            f""".:53 {{
    bind {a.bridge_ip}
    ready 127.0.0.1:8181
    health 127.0.0.1:8080
    errors
    loadbalance
    cache 30
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} localcluster
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
}}
"""
        )

    # -- images --------------------------------------------------------------------------

    def ctr(self, *args: str, input_file: Path | None = None) -> str:
        sock = self.dir / "containerd" / "containerd.sock"
        with open(input_file, "rb") if input_file else contextlib.nullcontext() as stdin:
            out = subprocess.run(
                ["ctr", f"--address={sock}", "--namespace=k8s.io", *args],
                stdin=stdin,
                capture_output=True,
                check=False,
                timeout=600,
            )
        if out.returncode:
            raise RuntimeError(f"ctr {' '.join(args)}: {out.stderr.decode(errors='replace').strip()}")
        return out.stdout.decode()

    def import_image(self, archive: Path, name: str) -> None:
        """Load an OCI/Docker archive into the node's containerd (where the kubelet finds it)."""
        self.ctr("images", "import", "--no-unpack=false", str(archive))
        if name not in self.ctr("images", "ls", "-q").split():
            raise RuntimeError(f"{archive} did not provide the image {name}")

    def _pause_archive(self) -> Path:
        out = self.dir / "pause.oci.tar"
        oci_archive(out, PAUSE_IMAGE, {"pause": (self.bindir / "pause").read_bytes()}, ["/pause"])
        return out

    # -- stop -----------------------------------------------------------------------------

    def stop(self) -> None:
        cleanup(self.record)
        for proc in self._procs:
            proc.wait(timeout=30)
        self._procs.clear()


def _wait(ready: Callable[[], bool], deadline: float, what: str, logfile: Path) -> None:
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    tail = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else ""
    raise TimeoutError(f"{what} not ready; {logfile}:\n{tail}")


def oci_archive(out: Path, name: str, files: dict[str, bytes], entrypoint: list[str]) -> None:
    """Write a one-layer OCI image archive holding ``files`` (executables) at /."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    layer_bytes = gzip.compress(layer.getvalue(), mtime=0)
    diff_id = "sha256:" + hashlib.sha256(layer.getvalue()).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": entrypoint},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()

    def desc(media: str, data: bytes) -> dict[str, object]:
        return {"mediaType": media, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": desc("application/vnd.oci.image.config.v1+json", config),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", layer_bytes)],
        }
    ).encode()
    mdesc = desc("application/vnd.oci.image.manifest.v1+json", manifest)
    mdesc["annotations"] = {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name}
    index = json.dumps({"schemaVersion": 2, "manifests": [mdesc]}).encode()
    with tarfile.open(out, "w") as tar:

        def add(path: str, data: bytes) -> None:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for data in (layer_bytes, config, manifest):
            add("blobs/sha256/" + hashlib.sha256(data).hexdigest(), data)


def _kill_all(pids: set[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (5 if sig == signal.SIGTERM else 10)
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)


def _cgroup_dirs(record: NodeRecord) -> list[Path]:
    """Every cgroup directory under the node's, deepest first. os.walk, not rglob: the
    kubelet and containerd remove cgroups while we look, and a vanished one is no error."""
    found: list[Path] = []
    for hierarchy in _hierarchies():
        top = hierarchy / record.cgroup_root.lstrip("/")
        found += [Path(d) for d, _, _ in os.walk(top, topdown=False)]
    return found


def _cgroup_pids(record: NodeRecord) -> set[int]:
    pids: set[int] = set()
    for cgroup in _cgroup_dirs(record):
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(x) for x in (cgroup / "cgroup.procs").read_text().split())
    return pids


def cleanup(record: NodeRecord) -> None:
    """Undo everything a node made; safe to call twice and after a crash."""
    netns = f"{NETNS_PREFIX}{record.index}"
    # 1. Processes: the node's own (by PID), everything in its network namespace
    #    (containerd's shims, host-network pods) and in its cgroups (containers).
    for _ in range(3):
        pids = {p for p in record.pids if _alive(p)}
        listed = _run("ip", "netns", "pids", netns, check=False)
        pids.update(int(x) for x in listed.stdout.split() if listed.returncode == 0)
        pids.update(_cgroup_pids(record))
        pids.discard(os.getpid())
        if not pids:
            break
        _kill_all(pids)
    # 2. The veth pair (its routes go with it; deleted here because a namespace's
    #    devices vanish only when the kernel gets round to it), then the network
    #    namespace with the bridge and iptables rules.
    _run("ip", "link", "del", Addresses(record.index).host_if, check=False)
    _run("ip", "netns", "del", netns, check=False)
    # 3. Cgroups the kubelet made under ours, deepest first, then the directories we made.
    for cgroup in _cgroup_dirs(record):
        _rmdir(cgroup)
    for made in record.made_dirs:
        _rmdir(Path(made))
    # 4. Files: only when no mount is left under them (never delete through a mount).
    datadir = Path(record.datadir)
    if datadir.exists():
        left = _mounts_under(datadir)
        if left:
            raise RuntimeError(f"mounts remain under {datadir}: {left}")
        shutil.rmtree(datadir, ignore_errors=True)
    _restore_kernel_tunables(record.index)
    with contextlib.suppress(FileNotFoundError):
        record.path.unlink()
    with contextlib.suppress(OSError):  # the last node leaves no trace
        RUN.rmdir()


def _rmdir(path: Path) -> None:
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # a cgroup empties a moment after its last process died
            time.sleep(0.1)


def _restore_kernel_tunables(index: int) -> None:
    others = [p for p in RUN.glob("node*.json") if p.name != f"node{index}.json"]
    saved = RUN / "kernel-tunables.json"
    if others or not saved.exists():
        return
    for key, value in json.loads(saved.read_text()).items():
        with contextlib.suppress(OSError):
            Path("/proc/sys", key).write_text(value)
    saved.unlink()
