"""The gateway at scale: 1,000 / 10,000 / 100,000 tokens and 1,000 applications.

    .venv/bin/python bench/gateway_scale.py [--tokens 1000 10000 100000] [--apps 1000]

For each size, the gateway process of bench/gatepass_server.py (the shipped Gateway, its
state built in-process: no API server list) on its own core, the origin nginx and wrk on
the other: start-to-ready (process start until its discovery document answers), RSS
once ready and after load, and req/s of the cookie and header paths (wrk, 1 thread,
64 connections, 2 rounds of 5 s). The real watch path at 10k tokens is in
bench/operator_scale.py (a gateway started against the API server holding them).

Then the last-seen report at 100,000 used tokens, on the local control plane: one flush
of the gateway into the sixteen ConfigMaps (seconds, the largest shard against the API
server's 1 MiB limit) and the operator's reading of all of them back.
Results: ``bench/results/<date>-gateway-scale.json`` and ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools" / "localcluster")]

import localcluster  # noqa: E402
from bench import peers, report, tools  # noqa: E402
from gatepass.contract import LAST_SEEN_LABEL, MANAGED_BY, last_seen_shards  # noqa: E402
from gatepass.gateway.lastseen import LastSeen, flush  # noqa: E402
from gatepass.operator.lastseen import Reports  # noqa: E402
from gatepass.operator.stores.configmaps import KubeConfigMaps  # noqa: E402
from gatepass.operator.sweeper import Sweeper  # noqa: E402
from gatepass.trust.seal import Sealer, generate_key  # noqa: E402

ROWS = ("gatepass-cookie", "gatepass-headers")
PREFIX = "gatepass-last-seen"
CONFIGMAP_LIMIT = 1024 * 1024  # the API server refuses a ConfigMap whose data exceeds this


def gateway_at(tokens: int, apps: int, rounds: int, seconds: float) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(prefix="gatepass-gw-scale-") as tmp,
        peers.fleet(Path(tmp), tokens, ROWS, apps) as fl,
    ):
        rss_ready = report.proc_mib(fl.gateway_pid, "VmRSS")
        samples = peers.measure(fl, ROWS, rounds, seconds, 64)
        rows = peers.summary(samples)
        return {
            "ready_seconds": fl.gateway_ready_seconds,
            "rss_ready_mib": rss_ready,
            "rss_peak_mib": report.proc_mib(fl.gateway_pid, "VmHWM"),
            **{f"{row}_rps": rows[row]["requests_per_second"] for row in ROWS},
            **{f"{row}_p99_ms": rows[row]["p99_ms"] for row in ROWS},
        }


async def last_seen_at(kubeconfig: Path, used: int, ns: str) -> dict[str, float]:
    """One gateway flush of `used` tokens into the shards (created here, in namespace `ns`);
    the operator reads them back."""
    api = await config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(api)
    try:
        labels = {**MANAGED_BY, LAST_SEEN_LABEL: "true"}
        for name in last_seen_shards(PREFIX):
            meta = client.V1ObjectMeta(name=name, namespace=ns, labels=labels)
            await core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=meta))
        seen, now = LastSeen(), time.time()
        for i in range(used):  # realistic names: 40 namespaces, an application each, IPv4 clients
            namespace = f"team-{i % 40:02d}-production"
            seen.saw(
                namespace,
                f"deploy-bot-{i:06d}",
                now,
                f"{namespace}/internal-api",
                f"10.{i % 250}.{i % 200}.1",
            )
        start = time.monotonic()
        written = await flush(core, ns, PREFIX, seen, Sealer(generate_key()))
        flushed = time.monotonic() - start
        if written != used:
            raise SystemExit(f"only {written} of {used} entries written (see the warnings above)")
        start = time.monotonic()
        listing = await core.list_namespaced_config_map(ns, label_selector=f"{LAST_SEEN_LABEL}=true")
        # Only read here: the operator's stores, and removals that go nowhere.
        shards = KubeConfigMaps(api=api)
        reports = Reports(
            ns,
            PREFIX,
            lambda _: True,
            configmaps=shards,
            sweeper=Sweeper(functools.partial(shards.drop_keys, ns), active=False),
        )
        for cm in listing.items:
            reports.read(cm.data or {})
        read = time.monotonic() - start
        sizes = [sum(len(k) + len(v) for k, v in (cm.data or {}).items()) for cm in listing.items]
        return {
            "used_tokens": used,
            "flush_seconds": flushed,
            "operator_read_seconds": read,
            "entries_read": len(reports.current),
            "largest_shard_kib": max(sizes) / 1024,
            "largest_shard_of_limit": max(sizes) / CONFIGMAP_LIMIT,
        }
    finally:
        await api.close()


def table(result: dict[str, Any]) -> str:
    lines = [
        f"\nMeasured {result['date']} on {result['machine']}; {result['settings']}.\n",
        "| tokens | start-to-ready s | RSS ready MiB | RSS peak MiB | cookie req/s | headers req/s "
        "| cookie p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, r in result["sizes"].items():
        lines.append(
            f"| {int(n):,} | {r['ready_seconds']:.1f} | {r['rss_ready_mib']:.0f} | {r['rss_peak_mib']:.0f} "
            f"| {r['gatepass-cookie_rps']:,.0f} | {r['gatepass-headers_rps']:,.0f} "
            f"| {r['gatepass-cookie_p99_ms']:.1f} |"
        )
    sizes = result["sizes"]
    least, most = min(sizes, key=int), max(sizes, key=int)
    ratio = sizes[most]["gatepass-cookie_rps"] / sizes[least]["gatepass-cookie_rps"]
    lines += ["", f"Cookie req/s at {int(most):,} tokens / at {int(least):,}: {ratio:.2f}."]
    ls = result.get("last_seen")
    if ls:
        lines += [
            "",
            f"Last-seen report, {ls['used_tokens']:,} tokens used in one interval: the gateway's flush "
            f"into 16 ConfigMaps took {ls['flush_seconds']:.1f} s; the largest holds "
            f"{ls['largest_shard_kib']:.0f} KiB ({ls['largest_shard_of_limit']:.0%} of the 1 MiB limit); "
            f"the operator read all {ls['entries_read']:,} entries back in "
            f"{ls['operator_read_seconds']:.1f} s.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, nargs="+", default=[1000, 10_000, 100_000])
    p.add_argument("--apps", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--used", type=int, default=100_000, help="tokens in the last-seen flush (0: skip)")
    report.arguments(p)
    args = p.parse_args(argv)
    sizes = {}
    for n in args.tokens:
        sizes[str(n)] = gateway_at(n, args.apps, args.rounds, args.seconds)
        peers.log(f"{n:,} tokens: {sizes[str(n)]}")
    result: dict[str, Any] = {
        "date": report.now(),
        "machine": f"{os.cpu_count()} cores, {tools.cpu_model()}",
        "settings": (
            f"{args.apps:,} applications; wrk 1 thread, 64 connections, {args.rounds} rounds of "
            f"{args.seconds:g} s; gateway on core {peers.SUT_CORE}, wrk and origin on core {peers.LOAD_CORE}"
        ),
        "sizes": sizes,
    }
    if args.used:
        with tempfile.TemporaryDirectory(prefix="gatepass-last-seen-") as tmp:
            cluster = localcluster.LocalCluster(bindir=localcluster.build(), datadir=Path(tmp) / "cluster")
            cluster.start()
            try:
                cluster.kubectl("create", "namespace", "gatepass-system")
                result["last_seen"] = asyncio.run(
                    last_seen_at(cluster.kubeconfig, args.used, "gatepass-system")
                )
            finally:
                cluster.stop()
        peers.log(f"last seen: {result['last_seen']}")
    report.publish(result, "gateway-scale", table(result), args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
