"""The gateway's memory at scale: its start and its relist against an API server holding
100,000 ServiceTokens, 10,000 ServiceAccounts and 10,000 pods.

    .venv/bin/python bench/gateway_memory.py [--tokens 100000] [--accounts 10000] [--pods 10000]

On a local control plane of its own: the objects are created spread over a few tenant
namespaces (one client, many requests in flight), each with a few hundred bytes of
annotations as tools and controllers leave them, and one in LARGE_EVERY with 200 KiB
(the API server takes 256 KiB). The tokens carry a status sealed with the key of the
signing-key Secret made here, as the operator seals it (no operator runs: at this scale
it would take most of an hour); the pods are never scheduled (no node: they stay Pending,
which is all the gateway's watch sees of them anyway).

Then a real gateway process (workload identity on, every namespace, the chart's limit
not applied: measured): the time until /readyz, its peak RSS (VmHWM) at start; then the
API server is restarted, the gateway meets 410 Gone and lists everything again while
its old state still serves, and the peak RSS of that relist alone (VmHWM reset first,
``/proc/<pid>/clear_refs``). The chart limits the gateway to 256 MiB.
Results: ``bench/results/<date>-gateway-memory.json`` and ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import ssl
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools" / "localcluster"), str(ROOT / "operator")]

from tests.support.gateway import GatewayProcess  # noqa: E402

import localcluster  # noqa: E402
from bench import report, tools  # noqa: E402
from gatepass.contract import SEAL_ENTRY  # noqa: E402
from gatepass.models.servicetoken import ServiceTokenStatus  # noqa: E402
from gatepass.trust import signing  # noqa: E402
from gatepass.trust.seal import Sealer, generate_key  # noqa: E402

GROUP, VERSION = "gatepass.dev", "v1alpha1"
IN_FLIGHT = 64
NAMESPACES = 10  # tenants the objects are spread over
LARGE_EVERY = 500  # one object in this many carries LARGE bytes of annotations
LARGE = 200 * 1024
CHART_LIMIT_MIB = 256  # charts/gatepass/values.yaml: gateway.resources.limits.memory
KEY_NAMESPACE, KEY_SECRET = "gatepass-system", "gatepass-bench-keys"
ISSUER = "https://gatepass.bench.test"
INFORMERS = ("servicetokens", "pods", "serviceaccounts")


def notes(i: int) -> dict[str, str]:
    """What objects carry in real clusters: a few hundred bytes (a last-applied
    configuration, a CI's stamps), and now and then a large blob."""
    notes = {
        "ci.example.com/pipeline": f"https://ci.example.com/team/project/-/pipelines/{1_000_000 + i}",
        "ci.example.com/commit": f"{i:040x}",
        "kubectl.kubernetes.io/last-applied-configuration": '{"apiVersion":"v1","metadata":{"labels":'
        + '{"app.kubernetes.io/name":"service","app.kubernetes.io/part-of":"platform"}},'
        + f'"name":"object-{i}","owner":"team-{i % NAMESPACES}@example.com"'
        + "}",
    }
    if i % LARGE_EVERY == LARGE_EVERY - 1:
        notes["x.example/blob"] = f"{i:06d}" + "a" * LARGE
    return notes


def namespace(i: int) -> str:
    return f"tenant-{i % NAMESPACES:02d}"


class Api:
    """A lean client of the API server (aiohttp, the admin token): the objects are plain
    JSON, nothing is converted, IN_FLIGHT requests at a time."""

    def __init__(self, cluster: localcluster.LocalCluster) -> None:
        pki = cluster.datadir / "pki"
        self.base = cluster.server
        self.ssl = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.headers = {"Authorization": f"Bearer {(pki / 'admin.token').read_text().strip()}"}
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Api:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.ssl, limit=IN_FLIGHT), headers=self.headers
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.session is not None
        await self.session.close()

    async def send(self, method: str, path: str, body: object, content_type: str = "application/json") -> Any:
        assert self.session is not None
        for attempt in range(20):  # 429 / 5xx under load: wait and send again
            async with self.session.request(
                method, self.base + path, json=body, headers={"Content-Type": content_type}
            ) as resp:
                if resp.status < 300:
                    return await resp.json()
                if resp.status == 409 and method == "POST":
                    return None  # made by an earlier attempt whose answer was lost
                if resp.status not in (429, 500, 503, 504):
                    raise RuntimeError(f"{method} {path}: {resp.status} {(await resp.text())[:300]}")
            await asyncio.sleep(0.2 * (attempt + 1))
        raise RuntimeError(f"{method} {path}: gave up")


async def pool(n: int, job: Callable[[int], Awaitable[object]]) -> float:
    """Run job(0..n-1), IN_FLIGHT at a time; seconds taken."""
    start, next_i = time.monotonic(), iter(range(n))

    async def worker() -> None:
        for i in next_i:
            await job(i)
            if i and i % 10_000 == 0:
                print(f"[bench] {i:,} in {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return time.monotonic() - start


def token_status(i: int, now: datetime) -> dict[str, Any]:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    expires = now.replace(year=now.year + 1).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "clientId": f"{i:032x}.access",
        "secretHash": "sha256:" + f"{i:064x}",
        "secretName": f"t{i:06d}",
        "createdAt": stamp,
        "expiresAt": expires,
        "observedGeneration": 1,
        "observedDuration": "8760h",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Issued",
                "message": f"credentials issued; they expire at {expires}",
                "lastTransitionTime": stamp,
                "observedGeneration": 1,
            }
        ],
    }


async def populate(api: Api, tokens: int, accounts: int, pods: int, sealer: Sealer) -> dict[str, float]:
    """Create the objects; seconds each kind took."""
    now = datetime.now(UTC)

    async def token(i: int) -> None:
        ns, name = namespace(i), f"t{i:06d}"
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ServiceToken",
            "metadata": {"name": name, "annotations": notes(i)},
            "spec": {"duration": "8760h"},
        }
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/servicetokens"
        made = await api.send("POST", path, body)
        if made is None:  # an earlier attempt made it
            made = await api.send("GET", f"{path}/{name}", None)
        status = token_status(i, now)
        seals = sealer.stamps(made["metadata"]["uid"], ns, name, ServiceTokenStatus.model_validate(status))
        patch = {"status": {**status, **seals}}
        await api.send("PATCH", f"{path}/{name}/status", patch, "application/merge-patch+json")

    async def account(i: int) -> None:
        body = {"metadata": {"name": f"sa{i:05d}", "annotations": notes(i)}}
        await api.send("POST", f"/api/v1/namespaces/{namespace(i)}/serviceaccounts", body)

    async def pod(i: int) -> None:
        body = {
            "metadata": {
                "name": f"p{i:05d}",
                "annotations": notes(i),
                "labels": {"app": f"a{i % 100}"},
            },
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "registry.example.com/team/app:1.0",
                        "env": [{"name": "MODE", "value": "production"}],
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    }
                ]
            },
        }
        await api.send("POST", f"/api/v1/namespaces/{namespace(i)}/pods", body)

    return {
        "tokens_seconds": await pool(tokens, token),
        "accounts_seconds": await pool(accounts, account),
        "pods_seconds": await pool(pods, pod),
    }


async def prepare(api: Api, cluster: localcluster.LocalCluster) -> Sealer:
    """The tenants' namespaces (each with its default ServiceAccount, which pods need) and
    the signing-key Secret the gateway reads: its signing key and the status-seal key."""
    for ns in (KEY_NAMESPACE, *sorted({namespace(i) for i in range(NAMESPACES)})):
        await api.send("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    key = generate_key()
    data = {**signing.to_secret_data([signing.generate(datetime.now(UTC), ISSUER)]), SEAL_ENTRY: key}
    secret = {
        "metadata": {"name": KEY_SECRET},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    await api.send("POST", f"/api/v1/namespaces/{KEY_NAMESPACE}/secrets", secret)
    deadline = time.monotonic() + 60
    for ns in sorted({namespace(i) for i in range(NAMESPACES)}):
        while True:
            assert api.session is not None
            async with api.session.get(f"{api.base}/api/v1/namespaces/{ns}/serviceaccounts/default") as r:
                if r.status == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"no default ServiceAccount in {ns}")
            await asyncio.sleep(0.2)
    return Sealer(key)


def reset_peak(pid: int) -> None:
    """VmHWM back to the current RSS (Linux 4.0+: clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def gateway_memory(
    cluster: localcluster.LocalCluster, workdir: Path, expect: dict[str, int]
) -> dict[str, Any]:
    env = {
        "GATEPASS_ISSUER": ISSUER,
        "GATEPASS_KEY_NAMESPACE": KEY_NAMESPACE,
        "GATEPASS_KEY_SECRET": KEY_SECRET,
        "GATEPASS_LAST_SEEN_INTERVAL": "0",
        "GATEPASS_COOKIE_SECURE": "false",
    }
    gw = GatewayProcess(cluster.kubeconfig, env, workdir / "gateway.log")
    gw.env["GATEPASS_LOG_LEVEL"] = "INFO"
    start = time.monotonic()
    gw.start(timeout=900)
    ready = time.monotonic() - start
    try:
        assert gw.proc is not None
        pid = gw.proc.pid
        counts = {name: listings(gw.logfile, name) for name in INFORMERS}
        for name, n in expect.items():
            if counts[name][1] < n:  # (and the default ServiceAccount of each namespace)
                raise RuntimeError(f"the gateway listed {counts[name][1]} {name}, {n} were made")
        started = {
            "ready_seconds": ready,
            "peak_rss_mib": report.proc_mib(pid, "VmHWM"),
            "rss_mib": report.proc_mib(pid, "VmRSS"),
        }
        reset_peak(pid)
        before = report.proc_mib(pid, "VmRSS")
        # A write first: every version the gateway holds is then older than the restarted
        # API server's history, so each watch meets 410 Gone (one that had a bookmark of the
        # newest version would resume instead, and list nothing).
        cluster.kubectl("create", "configmap", f"before-restart-{time.time_ns()}", "-n", KEY_NAMESPACE)
        restart(cluster)
        t0 = time.monotonic()  # the relist's time runs from the API server's return
        deadline = time.monotonic() + 900
        while any(listings(gw.logfile, name)[0] < 2 for name in INFORMERS):
            if gw.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not list again; log: {gw.logfile}")
            time.sleep(0.2)
        relisted = time.monotonic() - t0
        relist = {
            "seconds": relisted,
            "rss_before_mib": before,
            "peak_rss_mib": report.proc_mib(pid, "VmHWM"),
            "rss_after_mib": report.proc_mib(pid, "VmRSS"),
        }
    finally:
        gw.stop()
    return {"start": started, "relist": relist}


def restart(cluster: localcluster.LocalCluster) -> None:
    """Kill the API server (and its etcd) and start it again on the same data. Its etcd
    peer port (only listened on: one member) may be taken meanwhile by a client's ephemeral
    port (it was, twice, here): then it starts on another. etcd holding ~1 GB takes
    minutes to load."""
    cluster.kill_apiserver()
    for attempt in range(3):
        try:
            cluster.start_apiserver(timeout=900)
            return
        except RuntimeError:
            if attempt == 2:
                raise
            cluster.pids.pop(0)  # exited
            args = [a for a in cluster._apiserver_args if not a.startswith("--etcd-peer-port=")]
            cluster._apiserver_args = [*args, f"--etcd-peer-port={localcluster.free_ports(1)[0]}"]


def listings(log: Path, name: str) -> tuple[int, int]:
    """(listings of this informer finished, objects in the last one), from the log."""
    done, last = 0, -1
    for line in log.read_text(errors="replace").splitlines():
        marker = f"{name}: "
        at = line.find(marker)
        if at >= 0 and line.endswith(" listed"):
            words = line[at + len(marker) :].split()
            if words and words[0].isdigit():
                done, last = done + 1, int(words[0])
    return done, last


async def populated(
    cluster: localcluster.LocalCluster, tokens: int, accounts: int, pods: int
) -> dict[str, float]:
    async with Api(cluster) as api:
        sealer = await prepare(api, cluster)
        return await populate(api, tokens, accounts, pods, sealer)


def run(tokens: int, accounts: int, pods: int, workdir: Path) -> dict[str, Any]:
    cluster = localcluster.LocalCluster(bindir=localcluster.build(), datadir=workdir / "cluster")
    cluster.start(preinstall=(ROOT / "crds",))
    try:
        created = asyncio.run(populated(cluster, tokens, accounts, pods))
        print(f"[bench] created: {created}", file=sys.stderr, flush=True)
        expect = {"servicetokens": tokens, "serviceaccounts": accounts + NAMESPACES, "pods": pods}
        measured = gateway_memory(cluster, workdir, expect)
    finally:
        cluster.stop()
    large = sum(1 for i in range(max(tokens, accounts, pods)) if i % LARGE_EVERY == LARGE_EVERY - 1)
    return {
        "objects": {"tokens": tokens, "service_accounts": accounts, "pods": pods, "namespaces": NAMESPACES},
        "annotations": f"~{len(str(notes(0)))} bytes on each object, {LARGE // 1024} KiB on one in "
        f"{LARGE_EVERY} (up to {large} of each kind)",
        "create": created,
        **measured,
        "chart_limit_mib": CHART_LIMIT_MIB,
    }


def table(result: dict[str, Any]) -> str:
    o, s, r = result["objects"], result["start"], result["relist"]
    lines = [
        f"\nMeasured {result['date']} on {result['machine']}; {result['annotations']}.\n",
        "| objects | ready s | peak RSS at start MiB | RSS ready MiB | relist s | peak RSS in relist MiB "
        "| chart limit MiB |",
        "|---|---|---|---|---|---|---|",
        f"| {o['tokens']:,} tokens, {o['service_accounts']:,} ServiceAccounts, {o['pods']:,} pods "
        f"({o['namespaces']} namespaces) | {s['ready_seconds']:.1f} | {s['peak_rss_mib']:.0f} "
        f"| {s['rss_mib']:.0f} | {r['seconds']:.1f} | {r['peak_rss_mib']:.0f} "
        f"| {result['chart_limit_mib']} |",
        "",
        "Times are of a shared 2-core machine (the API server on the same cores): noisy. Memory is not.",
    ]
    before = result.get("before")  # the same objects, measured with an earlier gateway
    if before:
        b, br = before["start"], before["relist"]
        lines += [
            "",
            f"The gateway of {before['build']} against the same objects: "
            f"ready in {b['ready_seconds']:.1f} s, "
            f"peak RSS {b['peak_rss_mib']:.0f} MiB at start, {br['peak_rss_mib']:.0f} MiB in the relist.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=100_000)
    p.add_argument("--accounts", type=int, default=10_000)
    p.add_argument("--pods", type=int, default=10_000)
    report.arguments(p)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gatepass-gateway-memory-") as tmp:
        measured = run(args.tokens, args.accounts, args.pods, Path(tmp))
    result = {
        "date": report.now(),
        "machine": f"{os.cpu_count()} cores, {tools.cpu_model()}, local control plane on the same machine",
        **measured,
    }
    report.publish(result, "gateway-memory", table(result), args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
