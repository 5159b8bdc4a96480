"""Issue N ServiceTokens, then measure the operator's CPU while nothing changes.

    .venv/bin/python bench/operator_idle.py [--tokens 1000] [--idle 60]

The design claim: wake-ups are scheduled for each token's next deadline, so an
idle operator does (almost) nothing however many tokens it holds. Results go
to stdout and bench/results/operator-idle.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools" / "localcluster")]

from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess  # noqa: E402

import localcluster  # noqa: E402

NS = "bench"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--idle", type=float, default=60)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gatepass-bench-") as tmp:
        cluster = localcluster.LocalCluster(bindir=localcluster.build(), datadir=Path(tmp) / "cluster")
        cluster.start(preinstall=(ROOT / "crds",))
        operator = OperatorProcess(cluster.kubeconfig, Path(tmp) / "operator.log")
        try:
            api = config.new_client_from_config(config_file=str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
            core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
            for ns in (NS, OPERATOR_NAMESPACE):
                core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
            operator.start(GATEPASS_LOG_LEVEL="INFO")
            assert operator.proc is not None
            pid = operator.proc.pid

            def create(i: int) -> None:
                body = {
                    "apiVersion": "gatepass.dev/v1alpha1",
                    "kind": "ServiceToken",
                    "metadata": {"name": f"t{i:05d}"},
                    "spec": {"duration": "8760h", "renewBefore": "720h"},
                }
                custom.create_namespaced_custom_object("gatepass.dev", "v1alpha1", NS, "servicetokens", body)

            start = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(create, range(args.tokens)))
            created = time.monotonic() - start

            def ready() -> int:
                listing = custom.list_namespaced_custom_object(
                    "gatepass.dev", "v1alpha1", NS, "servicetokens"
                )
                items: list[dict[str, Any]] = listing["items"]  # type: ignore[index]
                return sum(1 for t in items if (t.get("status") or {}).get("secretHash"))

            while (n := ready()) < args.tokens:
                if time.monotonic() - start > 1800:
                    raise SystemExit(f"only {n} of {args.tokens} tokens issued after 30 min")
                time.sleep(2)
            issued = time.monotonic() - start
            time.sleep(30)  # let the echoes of the last status writes settle
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(args.idle)
            cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100
            rss = rss_mib(pid)
        finally:
            operator.stop()
            cluster.stop()
    report = "\n".join(
        [
            f"# Operator with many tokens ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
            "",
            f"{os.cpu_count()} cores; local control plane on the same machine.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| tokens | {args.tokens:,} |",
            f"| created (8 client threads) | {created:.1f} s |",
            f"| all issued (Secret + status) | {issued:.1f} s ({args.tokens / issued:.0f} tokens/s) |",
            f"| operator CPU while idle ({args.idle:.0f} s) | {cpu:.2f} % of one core |",
            f"| operator memory (RSS) | {rss:.0f} MiB |",
        ]
    )
    print(report)
    out = ROOT / "bench" / "results" / "operator-idle.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
