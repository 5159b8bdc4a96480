"""The operator at scale: N ServiceTokens applied at once, beside the floor.

    .venv/bin/python bench/operator_scale.py [--runs 1000:default 1000:off 10000:off] [--idle 30]

On one local control plane, for each N:

* ``floor``: one efficient client (kubernetes_asyncio, 32 requests in flight) creates N
  ServiceTokens, then N Secrets and N status writes: the least the operator's work costs
  this API server. No operator runs for the floor's namespace.
* ``gatepass``: the same client creates N ServiceTokens in a namespace the operator serves;
  the time until a watch has seen every one Ready (then every Secret is checked). With the
  operator's default client-side limit (``default``), or none (``off``: its own cost).

Reported: both times and their ratio, the operator's API requests per token (its
``gatepass_operator_api_requests_total``; kopf's watches aside), the time its requests
waited for its client-side rate limit, its peak RSS, its CPU while idle after the last
run, and a real gateway's start against those tokens.
Results: ``bench/results/<date>-operator.json`` and ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kubernetes import config as sync_config
from kubernetes_asyncio import client, config, watch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools" / "localcluster")]

from tests.support.gateway import GatewayProcess, deployment_env  # noqa: E402
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess  # noqa: E402
from tests.support.waiting import wait_http_ok  # noqa: E402

import localcluster  # noqa: E402
from bench import report  # noqa: E402

GROUP, VERSION, PLURAL = "gatepass.dev", "v1alpha1", "servicetokens"
IN_FLIGHT = 32
# The goal of the issue (ratio to the floor, at 10,000 tokens); measured, never asserted.
GOAL_RATIO = 1.5


def metric(port: int, name: str) -> float:
    """The sum of a metric's series on the operator's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#") and line[len(name)] in " {"
    )


async def pool(n: int, job: Callable[[int], Awaitable[object]]) -> float:
    """Run job(0..n-1), IN_FLIGHT at a time; seconds taken."""
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with sem:
            await job(i)

    start = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.monotonic() - start


def token(i: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ServiceToken",
        "metadata": {"name": f"t{i:05d}"},
        "spec": {"duration": "8760h"},
    }


def status_like_the_operators(i: int) -> dict[str, Any]:
    """A status of the size the operator writes (ids, hash, times, conditions, seal)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "status": {
            "clientId": f"{i:032x}.access",
            "secretHash": "sha256:" + f"{i:064x}",
            "secretName": f"t{i:05d}",
            "createdAt": now,
            "expiresAt": now,
            "observedGeneration": 1,
            "observedDuration": "8760h",
            "seal": "0" * 64,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Issued",
                    "message": "credentials issued; they expire at " + now,
                    "lastTransitionTime": now,
                }
            ],
        }
    }


async def create_tokens(custom: client.CustomObjectsApi, ns: str, n: int, versions: dict[int, str]) -> float:
    """Create N tokens; their resourceVersions into ``versions``; seconds taken."""

    async def create(i: int) -> None:
        made = await custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, token(i))
        versions[i] = made["metadata"]["resourceVersion"]

    return await pool(n, create)


async def floor(api: client.ApiClient, n: int) -> dict[str, float]:
    ns = f"floor-{n}"
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    versions: dict[int, str] = {}
    created = await create_tokens(custom, ns, n, versions)

    async def issue(i: int) -> None:
        secret = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=f"t{i:05d}", labels={"gatepass.dev/service-token": f"t{i:05d}"}
            ),
            string_data={"CF_ACCESS_CLIENT_ID": f"{i:032x}.access", "CF_ACCESS_CLIENT_SECRET": "x" * 64},
        )
        await core.create_namespaced_secret(ns, secret)
        # As the operator writes status: PUT on the subresource, guarded by the version read.
        body = {**token(i), **status_like_the_operators(i)}
        body["metadata"] = {"name": f"t{i:05d}", "namespace": ns, "resourceVersion": versions[i]}
        await custom.replace_namespaced_custom_object_status(GROUP, VERSION, ns, PLURAL, f"t{i:05d}", body)

    issued = await pool(n, issue)
    return {"create_seconds": created, "issue_seconds": issued, "total_seconds": created + issued}


def ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def gatepass(api: client.ApiClient, ns: str, n: int, operator: OperatorProcess) -> dict[str, float]:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    assert operator.proc is not None
    # Healthy comes first; /metrics only once the operator has listed what exists.
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    await asyncio.to_thread(wait_http_ok, url, operator.proc, "operator", operator.logfile, 120)
    requests0 = metric(operator.metrics_port, "gatepass_operator_api_requests_total")
    waited0 = metric(operator.metrics_port, "gatepass_operator_api_throttled_seconds_total")
    done: set[str] = set()
    all_ready = asyncio.Event()

    async def follow() -> None:
        while not all_ready.is_set():  # a watch ends server-side now and then: resume
            w = watch.Watch()
            async with w.stream(
                custom.list_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, timeout_seconds=300
            ) as s:
                async for event in s:
                    obj = event["object"]
                    if ready(obj):
                        done.add(obj["metadata"]["name"])
                        if len(done) == n:
                            all_ready.set()
                            return

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.5)  # the watch is open before the first create
    start = time.monotonic()
    created = await create_tokens(custom, ns, n, {})
    await asyncio.wait_for(all_ready.wait(), timeout=3600)
    total = time.monotonic() - start
    follower.cancel()
    secrets = await core.list_namespaced_secret(ns, label_selector="gatepass.dev/service-token")
    if len(secrets.items) != n:
        raise SystemExit(f"{len(secrets.items)} Secrets for {n} Ready tokens in {ns}")
    requests = metric(operator.metrics_port, "gatepass_operator_api_requests_total") - requests0
    waited = metric(operator.metrics_port, "gatepass_operator_api_throttled_seconds_total") - waited0
    return {
        "create_seconds": created,
        "total_seconds": total,
        "api_requests_per_token": requests / n,
        "rate_limited_seconds": waited,
        "peak_rss_mib": report.proc_mib(operator.proc.pid, "VmHWM"),
    }


# GATEPASS_API_QPS per run: the operator's default, or no client-side limit at all.
LIMITS = {"default": {}, "off": {"GATEPASS_API_QPS": "0"}}


async def measure(
    kubeconfig: Path, runs: list[tuple[int, str]], idle: float, workdir: Path
) -> dict[str, Any]:
    api = await config.new_client_from_config(config_file=str(kubeconfig))
    floors: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    operator: OperatorProcess | None = None
    try:
        core = client.CoreV1Api(api)
        # Every namespace before any operator starts (once, an operator started just before
        # its namespace was created never saw its tokens; not reproduced since).
        for ns in (OPERATOR_NAMESPACE, *(f"op-{n}-{limit}" for n, limit in runs)):
            await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        for n in sorted({n for n, _ in runs}):
            floors[str(n)] = await floor(api, n)
            print(f"[bench] floor {n}: {floors[str(n)]}", file=sys.stderr, flush=True)
        for limit in dict.fromkeys(limit for _, limit in runs):  # one operator per limit, in turn
            mine = [n for n, lim in runs if lim == limit]
            if operator is not None:
                operator.stop()
            operator = OperatorProcess(kubeconfig, workdir / f"operator-{limit}.log")
            namespaces = ",".join(f"op-{n}-{limit}" for n in mine)
            operator.start(
                "", True, GATEPASS_LOG_LEVEL="INFO", GATEPASS_NAMESPACES=namespaces, **LIMITS[limit]
            )
            for n in mine:
                g = await gatepass(api, f"op-{n}-{limit}", n, operator)
                row = {
                    "tokens": n,
                    "limit": limit,
                    **g,
                    "ratio": g["total_seconds"] / floors[str(n)]["total_seconds"],
                }
                rows.append(row)
                print(f"[bench] gatepass {row}", file=sys.stderr, flush=True)
        assert operator is not None
        assert operator.proc is not None
        settled = await quiet(operator.proc.pid)
        cpu0, t0 = report.cpu_seconds(operator.proc.pid), time.monotonic()
        await asyncio.sleep(idle)
        idle_cpu = (report.cpu_seconds(operator.proc.pid) - cpu0) / (time.monotonic() - t0) * 100
        rss = report.proc_mib(operator.proc.pid, "VmRSS")
        held = sum(n for n, lim in runs if lim == limit)
        gateway = gateway_start(kubeconfig, workdir, held)
    finally:
        if operator is not None:
            operator.stop()
        await api.close()
    return {
        "floors": floors,
        "runs": rows,
        "idle": {
            "tokens": held,
            "cpu_percent": idle_cpu,
            "seconds": idle,
            "rss_mib": rss,
            "settled_seconds": settled,
        },
        "gateway": gateway,
    }


async def quiet(pid: int, below: float = 1.0, window: float = 5.0, longest: float = 180.0) -> float:
    """Seconds until the process used less than `below` % of a core over `window` seconds:
    the work still queued once every token is Ready (the watch events of the last writes)
    is not idleness."""
    start = time.monotonic()
    while time.monotonic() - start < longest:
        cpu0 = report.cpu_seconds(pid)
        await asyncio.sleep(window)
        if (report.cpu_seconds(pid) - cpu0) / window * 100 < below:
            break
    return time.monotonic() - start


def gateway_start(kubeconfig: Path, workdir: Path, tokens: int) -> dict[str, float]:
    """The real gateway's start with the last operator's tokens in the API server: listed,
    seals checked, until /readyz answers (the operator still runs: it made the keys)."""
    with sync_config.new_client_from_config(config_file=str(kubeconfig)) as sync_api:  # type: ignore[no-untyped-call]
        env = deployment_env(sync_api, OPERATOR_NAMESPACE, "gatepass-gateway")
    gw = GatewayProcess(kubeconfig, {**env, "GATEPASS_LOG_LEVEL": "INFO"}, workdir / "gateway.log")
    start = time.monotonic()
    gw.start(timeout=300)
    ready = time.monotonic() - start
    assert gw.proc is not None
    rss = report.proc_mib(gw.proc.pid, "VmHWM")
    gw.stop()
    return {"tokens": tokens, "ready_seconds": ready, "peak_rss_mib": rss}


def table(result: dict[str, Any]) -> str:
    lines = [
        f"\nMeasured {result['date']} on {result['machine']}; {result['settings']}.\n",
        "| tokens | operator API limit | floor s (create + issue) | gatepass s "
        "| ratio (goal ≤ 1.5 at 10,000) | API requests / token | waited for the limit s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        f = result["floors"][str(r["tokens"])]
        limit = "none (GATEPASS_API_QPS=0)" if r["limit"] == "off" else "default (100/s, burst 200)"
        lines.append(
            f"| {r['tokens']:,} | {limit} | {f['total_seconds']:.1f} ({f['create_seconds']:.1f} + "
            f"{f['issue_seconds']:.1f}) | {r['total_seconds']:.1f} | {r['ratio']:.2f} "
            f"| {r['api_requests_per_token']:.1f} | {r['rate_limited_seconds']:.0f} "
            f"| {r['peak_rss_mib']:.0f} |"
        )
    idle, gw = result["idle"], result["gateway"]
    lines += [
        "",
        f"Idle afterwards (quiet {idle['settled_seconds']:.0f} s after the last token was Ready), holding "
        f"{idle['tokens']:,} tokens: {idle['cpu_percent']:.2f} % of one core over {idle['seconds']:.0f} s, "
        f"RSS {idle['rss_mib']:.0f} MiB. A gateway started then (the real watch "
        f"path: list, seals checked) was ready in {gw['ready_seconds']:.1f} s, "
        f"peak RSS {gw['peak_rss_mib']:.0f} MiB.",
    ]
    return "\n".join(lines) + "\n"


def run_spec(text: str) -> tuple[int, str]:
    n, _, limit = text.partition(":")
    if limit not in LIMITS:
        raise argparse.ArgumentTypeError(f"{text}: TOKENS:LIMIT, LIMIT one of {', '.join(LIMITS)}")
    return int(n), limit


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--runs", type=run_spec, nargs="+", default=[(1000, "default"), (1000, "off"), (10_000, "off")]
    )
    p.add_argument("--idle", type=float, default=30)
    report.arguments(p)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gatepass-operator-scale-") as tmp:
        cluster = localcluster.LocalCluster(bindir=localcluster.build(), datadir=Path(tmp) / "cluster")
        cluster.start(preinstall=(ROOT / "crds",))
        try:
            measured = asyncio.run(measure(cluster.kubeconfig, args.runs, args.idle, Path(tmp)))
        finally:
            cluster.stop()
    result = {
        "date": report.now(),
        "machine": f"{os.cpu_count()} cores, local control plane on the same machine",
        "settings": f"{IN_FLIGHT} requests in flight for the floor and the creates",
        **measured,
    }
    report.publish(result, "operator", table(result), args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
